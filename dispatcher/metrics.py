"""Prometheus metrics the API serves at ``/metrics``, prefixed ``smsdispatch_``.

The backlog gauges are read from Redis at each scrape (one pipeline), so they are the same
whichever API process is scraped: queue depths, retries waiting, in flight, dead letters, status
callbacks pending, workers seen recently, and each provider's circuit state. Request counts are
this API process's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import redis
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from dispatcher.keys import (
    CALLBACKS,
    DEAD_LETTERS,
    DELAY_QUEUE,
    IN_FLIGHT,
    WORKER_HEARTBEATS,
    circuit_key,
)
from dispatcher.settings import PRIORITY_QUEUES

__all__ = ["CIRCUIT_STATE_VALUES", "WORKER_FRESH_MS", "ApiMetrics"]

CIRCUIT_STATE_VALUES = {"closed": 0, "half_open": 1, "open": 2}
WORKER_FRESH_MS = 15_000  # a worker whose heartbeat is older than this is stale


class _BacklogCollector(Collector):
    def __init__(self, client: redis.Redis, providers: list[str]) -> None:
        self._redis = client
        self._providers = providers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now_ms = int(time.time() * 1000)
        pipe = self._redis.pipeline(transaction=False)
        for queue in PRIORITY_QUEUES.values():
            pipe.llen(queue)
        for key in (DELAY_QUEUE, IN_FLIGHT, DEAD_LETTERS, CALLBACKS):
            pipe.zcard(key)
        pipe.zcount(WORKER_HEARTBEATS, now_ms - WORKER_FRESH_MS, "+inf")
        for name in self._providers:
            pipe.hget(circuit_key(name), "state")
        raw = pipe.execute()
        queues = GaugeMetricFamily(
            "smsdispatch_queue_depth", "Jobs waiting in each Celery queue.", labels=["queue"]
        )
        for queue, depth in zip(PRIORITY_QUEUES.values(), raw[:3], strict=True):
            queues.add_metric([queue], depth)
        yield queues
        delay, in_flight, dead, callbacks, workers = raw[3:8]
        for name, doc, value in (
            ("retries_waiting", "Messages in the delay queue (retries, rate-limit waits).", delay),
            ("in_flight", "Messages being sent right now.", in_flight),
            ("dead_letters", "Messages in the dead letters.", dead),
            ("callbacks_pending", "Status callbacks not yet delivered.", callbacks),
            ("workers_fresh", "Workers whose heartbeat is recent.", workers),
        ):
            yield GaugeMetricFamily(f"smsdispatch_{name}", doc, value=value)
        circuits = GaugeMetricFamily(
            "smsdispatch_circuit_state",
            "Each provider's circuit: 0 closed, 1 half-open, 2 open.",
            labels=["provider"],
        )
        for name, state in zip(self._providers, raw[8:], strict=True):
            circuits.add_metric([name], CIRCUIT_STATE_VALUES.get(state or "closed", 0))
        yield circuits


class ApiMetrics:
    """The API process's registry: Redis backlog gauges and its own request counts."""

    def __init__(self, client: redis.Redis, providers: list[str]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_BacklogCollector(client, providers))
        self.requests = Counter(
            "smsdispatch_api_requests",
            "API requests by route and HTTP status.",
            ["route", "status"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        """The text exposition format (blocking: reads Redis)."""
        return generate_latest(self.registry)
