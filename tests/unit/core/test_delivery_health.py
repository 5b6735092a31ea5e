"""What reached the phone, per provider and country, and the weight factors it gives."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.delivery_health import (
    REPORT_LATENCY_BUCKETS_MS,
    DeliveryStats,
    country_calling_code,
    delivery_factors,
    report_latency_bucket,
)
from dispatcher.core.provider_health import WindowStats, route_factors

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@given(st.sampled_from(REGIONS))
def test_the_country_code_of_every_regions_example_number(region: str) -> None:
    example = phonenumbers.example_number(region)
    if example is None:
        return
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    assert country_calling_code(e164) == str(example.country_code)


@pytest.mark.parametrize(
    ("e164", "code"),
    [("+14155552671", "1"), ("+447700900123", "44"), ("+2348181234567", "234"), ("+0", "unknown")],
)
def test_country_codes(e164: str, code: str) -> None:
    assert country_calling_code(e164) == code


def test_report_latency_buckets_and_percentiles() -> None:
    assert report_latency_bucket(0) == 0
    assert report_latency_bucket(1_000) == 0
    assert report_latency_bucket(1_001) == 1
    assert report_latency_bucket(10**10) == len(REPORT_LATENCY_BUCKETS_MS)
    counts = [0] * (len(REPORT_LATENCY_BUCKETS_MS) + 1)
    counts[2], counts[4] = 9, 1  # nine in (2 s, 5 s], one in (10 s, 30 s]
    found = DeliveryStats(delivered=8, undelivered=2, latency_counts=tuple(counts))
    assert found.rate == 0.8
    p50 = found.latency_percentile_ms(0.5)
    assert p50 is not None
    assert 2_000 < p50 <= 5_000
    p95 = found.latency_percentile_ms(0.95)
    assert p95 is not None
    assert 10_000 < p95 <= 30_000
    assert DeliveryStats().rate is None


def test_a_provider_that_does_not_deliver_gets_its_share_cut() -> None:
    """Judged with enough reports: 0.3 against 0.95 gives 0.3 / 0.95; a small gap, or too few
    reports, changes nothing; never below 0.05."""
    factors = delivery_factors(
        {
            "a": DeliveryStats(95, 5),
            "b": DeliveryStats(30, 70),
            "c": DeliveryStats(90, 10),
            "d": DeliveryStats(0, 5),  # too few to judge
        },
        min_reports=20,
    )
    assert factors["a"] == 1.0
    assert factors["b"] == pytest.approx(0.3 / 0.95)
    assert factors["c"] == 1.0  # 0.05 below the best: within the margin
    assert factors["d"] == 1.0
    assert delivery_factors({"a": DeliveryStats(100), "b": DeliveryStats(0, 100)}, min_reports=20)[
        "b"
    ] == pytest.approx(0.05)
    assert delivery_factors({"a": DeliveryStats(30, 70)}, min_reports=20) == {"a": 1.0}


def test_route_factors_take_the_lower_of_submit_health_and_delivery() -> None:
    windows = {"a": WindowStats(calls=100), "b": WindowStats(calls=100, failures=30)}
    factors = route_factors(
        ("a", "b"), True, windows, {"a": 20, "b": 20}, delivery={"a": 0.4, "b": 1.0}
    )
    assert factors["a"] == pytest.approx(0.4)  # delivers badly, submits well
    assert factors["b"] == pytest.approx(0.7)  # submits badly, delivers well
    assert route_factors(("a", "b"), False, windows, {"a": 20, "b": 20}, delivery={"a": 0.4}) == {}
