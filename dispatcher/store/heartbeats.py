"""Worker heartbeats that prove a worker is consuming, not just alive.

A worker's heartbeat (``smsd:workers``, its name scored by the time) is written only when it runs
a job: any send job (at most once a second), and a canary job that its own scheduler thread
pushes onto the worker's own canary queue every ``worker.heartbeat_s``. A worker whose consumer
has stopped fetching from Redis (a known failure mode after a reconnect) runs no canary, so its
heartbeat goes stale while its process looks fine. ``/readyz``, ``/metrics`` and
``smsdispatch stats`` call a worker stale after three missed heartbeats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from dispatcher.core.clock import now_ms
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.redis_keys import WORKER_HEARTBEATS

__all__ = ["Heartbeat", "stale_after_ms", "worker_ages_ms"]

_THROTTLE_MS = 1000
_FORGET_AFTER_MS = 86_400_000  # a worker silent for a day is forgotten


def stale_after_ms(heartbeat_s: float) -> int:
    """A heartbeat older than this (three missed canaries) marks its worker stale."""
    return int(heartbeat_s * 3000)


@translates_redis_errors
def worker_ages_ms(client: redis.Redis, *, now_ms: int) -> dict[str, int]:
    """Every worker that beat in the last day, and how long ago (ms)."""
    rows: list[Any] = client.zrangebyscore(
        WORKER_HEARTBEATS, now_ms - _FORGET_AFTER_MS, "+inf", withscores=True
    )
    return {str(name): max(0, now_ms - int(score)) for name, score in rows}


class Heartbeat:
    """This worker's heartbeat; :meth:`beat` is cheap to call from every job."""

    def __init__(
        self, client: redis.Redis, worker_name: str, *, clock_ms: Callable[[], int] = now_ms
    ) -> None:
        self._redis = client
        self.worker_name = worker_name
        self._clock_ms = clock_ms
        self._last_ms = 0

    @translates_redis_errors
    def beat(self, *, force: bool = False) -> None:
        """Record that this worker just ran a job (at most once a second unless ``force``)."""
        now = self._clock_ms()
        if not force and now - self._last_ms < _THROTTLE_MS:
            return
        self._last_ms = now
        self._redis.zadd(WORKER_HEARTBEATS, {self.worker_name: now})
        if force:  # the canary, every few seconds: forget workers silent for a day
            self._redis.zremrangebyscore(WORKER_HEARTBEATS, "-inf", now - _FORGET_AFTER_MS)
