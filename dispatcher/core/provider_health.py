"""How a provider has been doing lately, and what that means for its share of traffic. Pure.

Every attempt is counted in its provider's sliding window in Redis (:mod:`dispatcher.store.gates`):
attempts, failures, and the sum of their latencies. From those windows, :func:`health_factors`
works out a factor per provider (1.0 when healthy) that multiplies its weight in weighted routes.

A provider is "far worse" than its peers, with at least ``min_calls`` attempts in the window:

- by failures, when its failure rate is at least 0.1 above the best peer's: its factor is its
  success rate over the best peer's success rate (0.7 against 1.0 gives 0.7);
- by latency, when its mean latency is over three times the best peer's and at least 250 ms
  longer: its factor is twice the best peer's mean over its own.

The lower of the two applies, never below 0.05, so a recovering provider still gets some traffic
and its window can show the recovery. A provider with too few attempts to judge keeps 1.0. What
its messages' delivery reports say (:mod:`dispatcher.core.delivery_health`) can lower it too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from dispatcher.core.latency import percentile_ms

__all__ = ["MIN_FACTOR", "WindowStats", "health_factors", "route_factors"]

MIN_FACTOR = 0.05
_FAILURE_MARGIN = 0.1
_LATENCY_RATIO = 3.0
_LATENCY_MARGIN_MS = 250.0


@dataclass(frozen=True, slots=True)
class WindowStats:
    """One provider's attempts in the recent window."""

    calls: int = 0
    failures: int = 0
    latency_ms_sum: int = 0
    latency_counts: tuple[int, ...] = ()  # attempts per latency bucket (dispatcher.core.latency)

    @property
    def failure_rate(self) -> float:
        return self.failures / self.calls if self.calls else 0.0

    @property
    def mean_latency_ms(self) -> float:
        return self.latency_ms_sum / self.calls if self.calls else 0.0

    def latency_percentile_ms(self, q: float) -> float | None:
        return percentile_ms(self.latency_counts, q)


def health_factors(stats: Mapping[str, WindowStats], *, min_calls: int) -> dict[str, float]:
    """A weight factor in [0.05, 1] for each provider of ``stats``, judged against the others."""
    judged = {name: s for name, s in stats.items() if s.calls >= max(1, min_calls)}
    factors = dict.fromkeys(stats, 1.0)
    if len(judged) < 2:
        return factors
    for name, mine in judged.items():
        peers = [s for other, s in judged.items() if other != name]
        factor = 1.0
        best_rate = min(p.failure_rate for p in peers)
        if mine.failure_rate - best_rate >= _FAILURE_MARGIN:
            factor = min(factor, (1 - mine.failure_rate) / (1 - best_rate))
        best_latency = min(p.mean_latency_ms for p in peers)
        mean = mine.mean_latency_ms
        if mean > _LATENCY_RATIO * best_latency and mean - best_latency >= _LATENCY_MARGIN_MS:
            factor = min(factor, 2 * best_latency / mean)
        factors[name] = max(MIN_FACTOR, factor)
    return factors


def route_factors(
    providers: Sequence[str],
    weighted: bool,
    windows: Mapping[str, WindowStats],
    min_calls: Mapping[str, int],
    *,
    adaptive: bool = True,
    delivery: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """The factors of one route's providers, judged against each other with the largest of
    their ``min_calls``, each lowered to its ``delivery`` factor where that is lower (what
    reached the phone in the destination's country: :mod:`dispatcher.core.delivery_health`);
    none for an unweighted or empty route, or with adaptation off."""
    if not (weighted and adaptive and providers):
        return {}
    judged = max(min_calls[name] for name in providers)
    factors = health_factors({name: windows[name] for name in providers}, min_calls=judged)
    for name, factor in (delivery or {}).items():
        if name in factors:
            factors[name] = max(MIN_FACTOR, min(factors[name], factor))
    return factors
