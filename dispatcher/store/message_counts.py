"""Messages that reached a state (accepted, failed, expired, ...), and messages asked for by our
reference before a resend, for ``/metrics``.

The counts live in the metrics hash (``messages|<state>``, ``reconciled|<provider>|<outcome>``).
A worker counts them in memory and adds them there at each flush (every
``worker.report_flush_s``, see :mod:`dispatcher.worker.count_flusher`), instead of one Redis
command per message; the message's own record is written at once, so only the counter lags.
Counts not yet flushed when a worker is killed are lost to the counter (never to the messages).
Unbuffered, each count goes to Redis at once.
"""

from __future__ import annotations

import collections
import threading

import redis

from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.redis_keys import METRICS

__all__ = ["MessageCounts"]


class MessageCounts:
    """States reached, counted here and added to the metrics hash by :meth:`flush`."""

    def __init__(self, client: redis.Redis, *, buffered: bool) -> None:
        self._redis = client
        self._buffered = buffered
        self._lock = threading.Lock()
        self._counts: collections.Counter[str] = collections.Counter()

    def reached(self, state: str) -> None:
        """One more message reached ``state``."""
        self._count(f"messages|{state}")

    def reconciled(self, provider: str, outcome: str) -> None:
        """One more message was asked for at ``provider`` by our reference, before a resend:
        ``found``, ``not_found`` or ``lookup_failed``."""
        self._count(f"reconciled|{provider}|{outcome}")

    def spent(self, provider: str, country: str, micros: int) -> None:
        """An attempt through ``provider`` to ``country`` cost ``micros`` micro-units."""
        self._count(f"spend|{provider}|{country}", micros)

    @translates_redis_errors
    def _count(self, field: str, amount: int = 1) -> None:
        if not self._buffered:
            self._redis.hincrby(METRICS, field, amount)
            return
        with self._lock:
            self._counts[field] += amount

    @translates_redis_errors
    def flush(self) -> int:
        """Add what was counted since the last flush to Redis; returns how many. When Redis
        fails, the counts are kept for the next flush."""
        with self._lock:
            taken, self._counts = self._counts, collections.Counter()
        if not taken:
            return 0
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for field, count in taken.items():
                    pipe.hincrby(METRICS, field, count)
                pipe.execute()
        except redis.RedisError:
            with self._lock:
                self._counts.update(taken)
            raise
        return sum(taken.values())
