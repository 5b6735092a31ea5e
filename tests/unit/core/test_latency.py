"""Latency buckets and percentiles. Pure."""

from __future__ import annotations

import pytest

from dispatcher.core.latency import LATENCY_BUCKETS_MS, bucket_index, percentile_ms


@pytest.mark.parametrize(
    ("ms", "index"),
    [(0, 0), (5, 0), (6, 1), (50, 3), (51, 4), (999, 7), (10_000, 10), (10_001, 11)],
)
def test_bucket_index(ms: int, index: int) -> None:
    assert bucket_index(ms) == index


def test_percentiles_interpolate_inside_a_bucket() -> None:
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    counts[4] = 50  # 50..100 ms
    counts[6] = 50  # 250..500 ms
    assert percentile_ms(counts, 0.5) == pytest.approx(100.0)
    assert percentile_ms(counts, 0.25) == pytest.approx(75.0)
    assert percentile_ms(counts, 0.95) == pytest.approx(475.0)
    assert percentile_ms([0] * 12, 0.5) is None
    top = [0] * 11 + [3]
    assert percentile_ms(top, 0.99) == 10_000.0
