"""What reached the phone, per provider and destination country, and what that means for a
provider's share of traffic. Pure.

Every final delivery report (pushed or looked up) is counted, in the same script that applies
it, in its provider's delivery window in Redis (:mod:`dispatcher.store.delivery_windows`, default
the last hour): delivered, undelivered, and the time from acceptance to the report in buckets.
From one country's windows, :func:`delivery_factors` works out a factor per provider (1.0 when
it delivers as well as its peers) that multiplies its weight in weighted routes, beside the
submit health of :mod:`dispatcher.core.provider_health`.

A provider with at least ``min_reports`` final reports for the country delivers "far worse"
when its delivery rate is at least 0.1 below the best peer's: its factor is its rate over the
best peer's (0.3 against 0.95 gives 0.32), never below 0.05.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass

import phonenumbers

from dispatcher.core.latency import percentile_ms
from dispatcher.core.provider_health import MIN_FACTOR

__all__ = [
    "REPORT_LATENCY_BUCKETS_MS",
    "UNKNOWN_COUNTRY",
    "DeliveryStats",
    "country_calling_code",
    "delivery_factors",
    "report_latency_bucket",
]

# Upper bounds (inclusive) of the buckets of the time from acceptance to the final report:
# 1 s ... 3 days; one more bucket above the last holds the rest.
REPORT_LATENCY_BUCKETS_MS: tuple[int, ...] = (
    1_000,
    2_000,
    5_000,
    10_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    1_800_000,
    3_600_000,
    7_200_000,
    21_600_000,
    86_400_000,
    259_200_000,
)
UNKNOWN_COUNTRY = "unknown"
_DELIVERY_MARGIN = 0.1


def report_latency_bucket(latency_ms: int) -> int:
    """The bucket of a report that came ``latency_ms`` after the acceptance."""
    return bisect.bisect_left(REPORT_LATENCY_BUCKETS_MS, max(0, latency_ms))


def country_calling_code(e164: str) -> str:
    """The E.164 country calling code of ``e164`` (``+447700900123`` → ``44``), or
    ``unknown`` when no country has its first digits."""
    digits = e164.lstrip("+")
    for length in (1, 2, 3):
        code = digits[:length]
        if code.isdigit() and int(code) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return code
    return UNKNOWN_COUNTRY


@dataclass(frozen=True, slots=True)
class DeliveryStats:
    """One provider's final reports for one country in the window."""

    delivered: int = 0
    undelivered: int = 0
    latency_counts: tuple[int, ...] = ()  # reports per bucket of REPORT_LATENCY_BUCKETS_MS

    @property
    def reports(self) -> int:
        return self.delivered + self.undelivered

    @property
    def rate(self) -> float | None:
        """Delivered of all final reports; None with none."""
        return self.delivered / self.reports if self.reports else None

    def latency_percentile_ms(self, q: float) -> float | None:
        return percentile_ms(self.latency_counts, q, REPORT_LATENCY_BUCKETS_MS)

    def to_json(self) -> dict[str, object]:
        rate = self.rate
        return {
            "delivered": self.delivered,
            "undelivered": self.undelivered,
            "delivery_rate": None if rate is None else round(rate, 4),
            "report_p50_ms": _rounded(self.latency_percentile_ms(0.5)),
            "report_p95_ms": _rounded(self.latency_percentile_ms(0.95)),
        }


def _rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


def delivery_factors(stats: Mapping[str, DeliveryStats], *, min_reports: int) -> dict[str, float]:
    """A weight factor in [0.05, 1] for each provider of ``stats`` (one country's), judged
    against the others with at least ``min_reports`` final reports."""
    factors = dict.fromkeys(stats, 1.0)
    judged = {
        name: s.delivered / s.reports
        for name, s in stats.items()
        if s.reports >= max(1, min_reports)
    }
    if len(judged) < 2:
        return factors
    for name, rate in judged.items():
        best = max(r for other, r in judged.items() if other != name)
        if best - rate >= _DELIVERY_MARGIN and best > 0:
            factors[name] = max(MIN_FACTOR, rate / best)
    return factors
