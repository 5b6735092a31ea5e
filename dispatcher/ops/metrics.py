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
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dispatcher.config.settings import Settings
from dispatcher.core.clock import now_ms
from dispatcher.core.delivery_health import DeliveryStats
from dispatcher.core.latency import LATENCY_BUCKETS_MS
from dispatcher.core.names import REFUSAL_CODES
from dispatcher.ops.spend_view import spend_view
from dispatcher.ops.stats import workers
from dispatcher.store.backlog import backlog, counters_and_circuits
from dispatcher.store.connection import RedisClient
from dispatcher.store.delivery_windows import DeliveryWindows

__all__ = ["CIRCUIT_STATE_VALUES", "ApiMetrics"]

CIRCUIT_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}


class _BacklogCollector(Collector):
    def __init__(
        self,
        client: RedisClient,
        providers: list[str],
        heartbeat_s: float,
        delivery: DeliveryWindows,
    ) -> None:
        self._redis = client
        self._providers = providers
        self._heartbeat_s = heartbeat_s
        self._delivery = delivery

    def collect(self) -> Iterator[Metric]:
        now = now_ms()
        counted, states = counters_and_circuits(self._redis, self._providers)
        yield from _counted(counted, self._providers)
        waiting = backlog(self._redis, self._providers)
        for name, doc, label, values in (
            ("queue_depth", "Jobs waiting in each Celery queue.", "queue", waiting["queues"]),
            (
                "ready_messages",
                "Messages sent one by one on each queue's ready list, not yet taken by a job.",
                "queue",
                waiting["ready"],
            ),
            (
                "awaiting_lookups",
                "Accepted messages waiting for a status lookup at a provider that reports only "
                "when asked.",
                "provider",
                waiting["awaiting_lookups"],
            ),
        ):
            family = GaugeMetricFamily(f"smsdispatch_{name}", doc, labels=[label])
            for key, value in values.items():
                family.add_metric([key], value)
            yield family
        seen = workers(self._redis, now_ms=now, heartbeat_s=self._heartbeat_s)
        stale = sum(1 for worker in seen if worker["stale"])
        for name, doc, value in (
            (
                "retries_waiting",
                "Messages in the delay queue (retries, rate-limit and quiet-hours waits, "
                "scheduled sends).",
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
        yield from _consent_gauges(waiting, now)
        circuits = GaugeMetricFamily(
            "smsdispatch_circuit_state",
            "Each provider's circuit: 0 closed, 1 half-open, 2 open.",
            labels=["provider"],
        )
        for name, state in zip(self._providers, states, strict=True):
            circuits.add_metric([name], CIRCUIT_STATE_VALUES.get(state or "closed", 0))
        yield circuits
        yield from _delivered(self._delivery.read(self._providers, now_ms=now))


def _consent_gauges(waiting: dict[str, Any], now: int) -> Iterator[Metric]:
    """The opt-out list's size, the inbound texts kept and the brakes in force."""
    yield GaugeMetricFamily(
        "smsdispatch_opt_outs", "Entries on the opt-out list.", value=waiting["opt_outs"]
    )
    yield GaugeMetricFamily(
        "smsdispatch_inbound_kept",
        "Inbound texts recorded within messages.retention_s.",
        value=waiting["inbound_kept"],
    )
    brakes = GaugeMetricFamily(
        "smsdispatch_pumping_brake",
        "Destination countries whose OTPs the pumping guard holds (1 while in force).",
        labels=["country"],
    )
    for country, until in waiting["brakes"].items():
        if until > now:
            brakes.add_metric([country], 1)
    yield brakes


class _SpendCollector(Collector):
    """Spent and held today and this month against each cap."""

    def __init__(self, client: RedisClient, settings: Settings) -> None:
        self._redis = client
        self._settings = settings

    def collect(self) -> Iterator[Metric]:
        view = spend_view(self._settings, self._redis, now_ms=now_ms())
        spent = GaugeMetricFamily(
            "smsdispatch_spend_period",
            f"Spent and held this UTC day and month, in {view['currency']}, by counter (all, "
            "country:<region>, key:<name>).",
            labels=["period", "counter"],
        )
        for period in ("day", "month"):
            for counter, amount in view[period].items():
                spent.add_metric([period, counter], amount)
        caps = GaugeMetricFamily(
            "smsdispatch_spend_cap",
            f"Each spend cap, in {view['currency']}.",
            labels=["period", "counter", "cap"],
        )
        for cap in view["caps"]:
            caps.add_metric([cap["period"], cap["counter"], cap["name"]], cap["limit"])
        yield from (spent, caps)


class ApiMetrics:
    """The API process's registry: Redis backlog gauges and its own request counts."""

    def __init__(
        self,
        client: RedisClient,
        providers: list[str],
        heartbeat_s: float,
        *,
        delivery_window_s: int = 3_600,
        settings: Settings | None = None,
    ) -> None:
        self.registry = CollectorRegistry()
        delivery = DeliveryWindows(client, window_ms=delivery_window_s * 1000)
        self.registry.register(_BacklogCollector(client, providers, heartbeat_s, delivery))
        if settings is not None:
            self.registry.register(_SpendCollector(client, settings))
        self.requests = Counter(
            "smsdispatch_api_requests",
            "API requests by route and HTTP status.",
            ["route", "status"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format (blocking: reads Redis)."""
        return generate_latest(self.registry)


# The workers' counters of (provider, something): the field's kind, the family and its help.
_PROVIDER_COUNTERS: dict[str, tuple[str, str, str]] = {
    "attempts": ("smsdispatch_attempts", "Provider attempts by outcome.", "outcome"),
    "waits": (
        "smsdispatch_provider_waits",
        "Times a message waited for a provider: rate_limit, paused (429), open, probing, "
        "saturated.",
        "why",
    ),
    "polls": (
        "smsdispatch_status_lookups",
        "Status lookups at providers that report only when asked, by what they learnt: "
        "delivered, undelivered, pending, failed.",
        "outcome",
    ),
    "inbound": (
        "smsdispatch_inbound_messages",
        "Inbound texts recorded, by what they were: stop, start, help (a keyword) or text.",
        "kind",
    ),
    "reconciled": (
        "smsdispatch_reconciliations",
        "Messages asked for at a provider by our reference before a resend: found (accepted, "
        "not sent again), not_found, lookup_failed.",
        "outcome",
    ),
}


# The counters of the door and of consent in the metrics hash: kind -> (name, help, labels);
# a field's labels are the last parts of "<kind>|...".
_DOOR_COUNTERS: dict[str, tuple[str, str, list[str]]] = {
    "opt_outs": (
        "smsdispatch_opt_out_changes",
        "Changes to the opt-out list: added or removed, by source (keyword, api, cli, import).",
        ["change", "source"],
    ),
    "refused": (
        "smsdispatch_refused",
        f"Messages refused at the door after validation, by reason ({', '.join(REFUSAL_CODES)}).",
        ["reason"],
    ),
    "limited": (
        "smsdispatch_guard_limited",
        "Messages the pumping guard refused, by the limit that was full (number, range, country).",
        ["limit"],
    ),
    "brakes": (
        "smsdispatch_pumping_brakes_engaged",
        "Times the pumping guard put a country's brake on (too few OTPs converted).",
        ["country"],
    ),
    "spend_alerts": (
        "smsdispatch_spend_alerts",
        "Times a reservation took a spend cap to spend.alert_at of it, by period and counter.",
        ["period", "counter"],
    ),
    "smart_encoded": (
        "smsdispatch_smart_encoded",
        "Messages recorded with their typographic characters sent as GSM-7 "
        "(messages.smart_encoding).",
        [],
    ),
    "conversions": (
        "smsdispatch_conversions",
        "Messages the web app reported used (report_conversion), OTPs and other.",
        ["kind"],
    ),
}


def _door_counters(raw: dict[str, str]) -> Iterator[Metric]:
    """The door's and consent's counters of the metrics hash as Prometheus families."""
    families = {
        kind: CounterMetricFamily(name, doc, labels=labels)
        for kind, (name, doc, labels) in _DOOR_COUNTERS.items()
    }
    for field, value in raw.items():
        kind, _, rest = field.partition("|")
        if kind in families:
            width = len(_DOOR_COUNTERS[kind][2])
            labels = rest.split("|")[-width:] if width else []
            families[kind].add_metric(labels, int(value))
    yield from families.values()


def _counted(raw: dict[str, str], providers: list[str]) -> Iterator[Metric]:
    """The workers' counters (``smsd:metrics``) as Prometheus families."""
    by_provider = {
        kind: CounterMetricFamily(name, doc, labels=["provider", label])
        for kind, (name, doc, label) in _PROVIDER_COUNTERS.items()
    }
    messages = CounterMetricFamily(
        "smsdispatch_messages", "Messages that reached each state.", labels=["state"]
    )
    spend = CounterMetricFamily(
        "smsdispatch_spend",
        "What attempts cost (accepted or ambiguous), in spend.currency, by provider and "
        "destination country.",
        labels=["provider", "country"],
    )
    buckets: dict[str, list[int]] = {p: [0] * (len(LATENCY_BUCKETS_MS) + 1) for p in providers}
    sums: dict[str, float] = dict.fromkeys(providers, 0.0)
    for field, value in raw.items():
        kind, _, rest = field.partition("|")
        count = int(value)
        if kind in by_provider:
            provider, _, what = rest.partition("|")
            by_provider[kind].add_metric([provider, what], count)
        elif kind == "messages":
            messages.add_metric([rest], count)
        elif kind == "latency":
            provider, _, index = rest.partition("|")
            buckets.setdefault(provider, [0] * (len(LATENCY_BUCKETS_MS) + 1))[int(index)] += count
        elif kind == "latency_ms_sum":
            sums[rest] = count / 1000
        elif kind == "spend":
            spend.add_metric(rest.split("|", 1), count / 1_000_000)
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
    yield from (by_provider["attempts"], messages, *list(by_provider.values())[1:], latency, spend)
    yield from _door_counters(raw)


def _delivered(windows: dict[str, dict[str, DeliveryStats]]) -> Iterator[Metric]:
    """The delivery windows (final reports by provider and destination country) as gauges."""
    reports = GaugeMetricFamily(
        "smsdispatch_delivery_reports",
        "Final delivery reports in the delivery window, by provider, destination country "
        "(E.164 calling code) and status.",
        labels=["provider", "country", "status"],
    )
    rate = GaugeMetricFamily(
        "smsdispatch_delivery_rate",
        "Delivered of the final delivery reports in the window, by provider and country.",
        labels=["provider", "country"],
    )
    latency = GaugeMetricFamily(
        "smsdispatch_report_latency_seconds",
        "Time from acceptance to the final delivery report in the window (p50, p95).",
        labels=["provider", "country", "quantile"],
    )
    for provider, countries in windows.items():
        for country, found in countries.items():
            reports.add_metric([provider, country, "delivered"], found.delivered)
            reports.add_metric([provider, country, "undelivered"], found.undelivered)
            if found.rate is not None:
                rate.add_metric([provider, country], found.rate)
            for q in (0.5, 0.95):
                value = found.latency_percentile_ms(q)
                if value is not None:
                    latency.add_metric([provider, country, f"{q:g}"], value / 1000)
    yield from (reports, rate, latency)
