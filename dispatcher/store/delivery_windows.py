"""Each provider's final delivery reports of the recent window (``delivery_reports.window_s``,
default an hour), per destination country: twelve buckets of a twelfth of the window each, one
hash with a TTL per bucket (``smsd:delivery:<provider>:<bucket>``), written by the script that
applies a report (``apply_report.lua``) and read here, summed over the buckets in the window."""

from __future__ import annotations

from collections.abc import Iterable

import redis

from dispatcher.core.delivery_health import REPORT_LATENCY_BUCKETS_MS, DeliveryStats
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.redis_keys import delivery_window_key

__all__ = ["BUCKETS", "REPORT_BOUNDS_ARG", "DeliveryWindows", "bucket_of"]

BUCKETS = 12
# The report-latency bucket bounds as the script takes them.
REPORT_BOUNDS_ARG = ",".join(str(b) for b in REPORT_LATENCY_BUCKETS_MS)


def bucket_of(now_ms: int, window_ms: int) -> int:
    """The bucket ``now_ms`` falls in, for a window of ``window_ms``."""
    return now_ms // max(1, window_ms // BUCKETS)


class DeliveryWindows:
    """Reads the providers' delivery windows, on one Redis client."""

    def __init__(self, client: redis.Redis, *, window_ms: int) -> None:
        self._redis = client
        self._window_ms = window_ms

    @translates_redis_errors
    def read(self, providers: Iterable[str], *, now_ms: int) -> dict[str, dict[str, DeliveryStats]]:
        """Provider → destination country → its final reports in the window, in one round
        trip: the last twelve buckets, the current one still filling (so the last 55 to 60
        minutes of an hour's window)."""
        names = list(providers)
        last = bucket_of(now_ms, self._window_ms)
        buckets = range(last - BUCKETS + 1, last + 1)
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            for bucket in buckets:
                pipe.hgetall(delivery_window_key(name, bucket))
        raw = pipe.execute()
        found: dict[str, dict[str, DeliveryStats]] = {}
        for index, name in enumerate(names):
            counts: dict[str, dict[str, int]] = {}
            for part in raw[index * BUCKETS : (index + 1) * BUCKETS]:
                for field, value in part.items():
                    country, _, what = str(field).partition("|")
                    mine = counts.setdefault(country, {})
                    mine[what] = mine.get(what, 0) + int(value)
            found[name] = {country: _stats(c) for country, c in sorted(counts.items())}
        return found


def _stats(counts: dict[str, int]) -> DeliveryStats:
    latency = tuple(counts.get(f"l{i}", 0) for i in range(len(REPORT_LATENCY_BUCKETS_MS) + 1))
    return DeliveryStats(counts.get("d", 0), counts.get("u", 0), latency)
