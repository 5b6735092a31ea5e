"""Prometheus metrics the API serves at ``/metrics``, prefixed ``smsdispatch_``.

Everything about sending is read from Redis at each scrape (one pipeline), so any API process
gives the same figures however many workers run, and a worker restart loses nothing: the workers'
Lua scripts count as they record (``smsd:metrics``) — attempts by provider and outcome, provider
latency as a histogram, messages by the state they reached, waits for a provider (rate limit,
429 pause, open circuit), status lookups by what they learnt, messages asked for before a
resend — and the backlog is read as it
stands: queue depths, retries waiting, in flight, dead letters, status callbacks pending, fresh
and stale workers, each provider's circuit state. Request counts are this API process's own.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dispatcher.core.clock import now_ms
from dispatcher.core.latency import LATENCY_BUCKETS_MS
from dispatcher.ops.stats import workers
from dispatcher.store.backlog import backlog, counters_and_circuits
from dispatcher.store.connection import RedisClient

__all__ = ["CIRCUIT_STATE_VALUES", "ApiMetrics"]

CIRCUIT_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class _BacklogCollector(Collector):
    def __init__(self, client: RedisClient, providers: list[str], heartbeat_s: float) -> None:
        self._redis = client
        self._providers = providers
        self._heartbeat_s = heartbeat_s

    def collect(self) -> Iterator[Metric]:
        now = now_ms()
        counted, states = counters_and_circuits(self._redis, self._providers)
        yield from _counted(counted, self._providers)
        waiting = backlog(self._redis, self._providers)
        queues = GaugeMetricFamily(
            "smsdispatch_queue_depth", "Jobs waiting in each Celery queue.", labels=["queue"]
        )
        for queue, depth in waiting["queues"].items():
            queues.add_metric([queue], depth)
        yield queues
        ready = GaugeMetricFamily(
            "smsdispatch_ready_messages",
            "Messages sent one by one on each queue's ready list, not yet taken by a job.",
            labels=["queue"],
        )
        for queue, depth in waiting["ready"].items():
            ready.add_metric([queue], depth)
        yield ready
        lookups = GaugeMetricFamily(
            "smsdispatch_awaiting_lookups",
            "Accepted messages waiting for a status lookup at a provider that reports only "
            "when asked.",
            labels=["provider"],
        )
        for provider, count in waiting["awaiting_lookups"].items():
            lookups.add_metric([provider], count)
        yield lookups
        seen = workers(self._redis, now_ms=now, heartbeat_s=self._heartbeat_s)
        stale = sum(1 for worker in seen if worker["stale"])
        for name, doc, value in (
            (
                "retries_waiting",
                "Messages in the delay queue (retries, rate-limit waits).",
                waiting["waiting_to_retry"],
            ),
            ("in_flight", "Messages being sent right now.", waiting["in_flight"]),
            ("dead_letters", "Messages in the dead letters.", waiting["dead_letters"]),
            (
                "callbacks_pending",
                "Status callbacks not yet delivered.",
                waiting["callbacks_pending"],
            ),
            (
                "awaiting_reports",
                "Accepted messages waiting for their final delivery report.",
                waiting["awaiting_reports"],
            ),
            ("workers_fresh", "Workers that ran a job or canary recently.", len(seen) - stale),
            ("workers_stale", "Workers seen today whose heartbeat is stale.", stale),
        ):
            yield GaugeMetricFamily(f"smsdispatch_{name}", doc, value=value)
        circuits = GaugeMetricFamily(
            "smsdispatch_circuit_state",
            "Each provider's circuit: 0 closed, 1 half-open, 2 open.",
            labels=["provider"],
        )
        for name, state in zip(self._providers, states, strict=True):
            circuits.add_metric([name], CIRCUIT_STATE_VALUES.get(state or "closed", 0))
        yield circuits


class ApiMetrics:
    """The API process's registry: Redis backlog gauges and its own request counts."""

    def __init__(self, client: RedisClient, providers: list[str], heartbeat_s: float) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_BacklogCollector(client, providers, heartbeat_s))
        self.requests = Counter(
            "smsdispatch_api_requests",
            "API requests by route and HTTP status.",
            ["route", "status"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format (blocking: reads Redis)."""
        return generate_latest(self.registry)


def _counted(raw: dict[str, str], providers: list[str]) -> Iterator[Metric]:
    """The workers' counters (``smsd:metrics``) as Prometheus families."""
    attempts = CounterMetricFamily(
        "smsdispatch_attempts", "Provider attempts by outcome.", labels=["provider", "outcome"]
    )
    messages = CounterMetricFamily(
        "smsdispatch_messages", "Messages that reached each state.", labels=["state"]
    )
    waits = CounterMetricFamily(
        "smsdispatch_provider_waits",
        "Times a message waited for a provider: rate_limit, paused (429), open, probing, "
        "saturated.",
        labels=["provider", "why"],
    )
    lookups = CounterMetricFamily(
        "smsdispatch_status_lookups",
        "Status lookups at providers that report only when asked, by what they learnt: "
        "delivered, undelivered, pending, failed.",
        labels=["provider", "outcome"],
    )
    reconciliations = CounterMetricFamily(
        "smsdispatch_reconciliations",
        "Messages asked for at a provider by our reference before a resend: found (accepted, "
        "not sent again), not_found, lookup_failed.",
        labels=["provider", "outcome"],
    )
    buckets: dict[str, list[int]] = {p: [0] * (len(LATENCY_BUCKETS_MS) + 1) for p in providers}
    sums: dict[str, float] = dict.fromkeys(providers, 0.0)
    for field, value in raw.items():
        kind, _, rest = field.partition("|")
        count = int(value)
        if kind == "attempts":
            provider, _, outcome = rest.partition("|")
            attempts.add_metric([provider, outcome], count)
        elif kind == "messages":
            messages.add_metric([rest], count)
        elif kind == "waits":
            provider, _, why = rest.partition("|")
            waits.add_metric([provider, why], count)
        elif kind == "polls":
            provider, _, outcome = rest.partition("|")
            lookups.add_metric([provider, outcome], count)
        elif kind == "reconciled":
            provider, _, outcome = rest.partition("|")
            reconciliations.add_metric([provider, outcome], count)
        elif kind == "latency":
            provider, _, index = rest.partition("|")
            buckets.setdefault(provider, [0] * (len(LATENCY_BUCKETS_MS) + 1))[int(index)] += count
        elif kind == "latency_ms_sum":
            sums[rest] = count / 1000
    latency = HistogramMetricFamily(
        "smsdispatch_provider_latency_seconds",
        "Provider answer time of each attempt.",
        labels=["provider"],
    )
    for provider, counts in sorted(buckets.items()):
        cumulative, points = 0, []
        for bound, count in zip((*LATENCY_BUCKETS_MS, None), counts, strict=True):
            cumulative += count
            points.append(("+Inf" if bound is None else f"{bound / 1000:g}", cumulative))
        latency.add_metric([provider], points, sum_value=sums.get(provider, 0.0))
    yield from (attempts, messages, waits, lookups, reconciliations, latency)
