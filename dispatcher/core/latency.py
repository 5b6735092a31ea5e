"""Provider latency as histogram buckets: which bucket an attempt falls in, and percentiles
read back from bucket counts. Pure.

The same buckets serve the Prometheus histogram (``smsdispatch_provider_latency_seconds``), the
recent window behind ``smsdispatch stats`` (p50 / p95) and the dashboard's last hour.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

__all__ = ["LATENCY_BUCKETS_MS", "bucket_index", "percentile_ms"]

# Upper bounds (inclusive) of each bucket; one more bucket above the last holds the rest.
LATENCY_BUCKETS_MS: tuple[int, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)


def bucket_index(latency_ms: int) -> int:
    """The bucket of ``latency_ms``: 0 for at most 5 ms, ..., 11 for over 10 s."""
    return bisect.bisect_left(LATENCY_BUCKETS_MS, max(0, latency_ms))


def percentile_ms(
    counts: Sequence[int], q: float, bounds: Sequence[int] = LATENCY_BUCKETS_MS
) -> float | None:
    """The ``q`` quantile (0 < q <= 1) of what was counted per bucket of ``bounds`` (upper
    bounds, one open bucket above the last), interpolated linearly inside its bucket (the open
    top bucket answers its lower bound); None with nothing counted."""
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count and seen + count >= rank:
            low = bounds[index - 1] if index > 0 else 0
            if index >= len(bounds):
                return float(low)
            high = bounds[index]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return float(bounds[-1])
