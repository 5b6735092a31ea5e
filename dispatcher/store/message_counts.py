"""Messages that reached a state (accepted, failed, expired, ...), for ``/metrics``.

The counts live in the metrics hash (``messages|<state>``). A worker counts the states its sends
reach in memory and adds them there at each flush (every ``worker.report_flush_s``, see
:mod:`dispatcher.worker.count_flusher`), instead of one Redis command per message; the message's own
record is written at once, so only the counter lags. Counts not yet flushed when a worker is killed
are lost to the counter (never to the messages). Unbuffered, each count goes to Redis at once.
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

    @translates_redis_errors
    def reached(self, state: str) -> None:
        """One more message reached ``state``."""
        if not self._buffered:
            self._redis.hincrby(METRICS, f"messages|{state}", 1)
            return
        with self._lock:
            self._counts[state] += 1

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
                for state, count in taken.items():
                    pipe.hincrby(METRICS, f"messages|{state}", count)
                pipe.execute()
        except redis.RedisError:
            with self._lock:
                self._counts.update(taken)
            raise
        return sum(taken.values())
