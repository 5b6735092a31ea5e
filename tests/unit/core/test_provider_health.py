"""Adaptive weight factors from providers' recent windows. Pure."""

from __future__ import annotations

import pytest

from dispatcher.core.provider_health import MIN_FACTOR, WindowStats, health_factors, route_factors


def stats(calls: int, failures: int = 0, mean_ms: int = 100) -> WindowStats:
    return WindowStats(calls=calls, failures=failures, latency_ms_sum=calls * mean_ms)


def test_healthy_peers_keep_full_weight() -> None:
    factors = health_factors({"a": stats(100, 2), "b": stats(100, 5)}, min_calls=20)
    assert factors == {"a": 1.0, "b": 1.0}


def test_failing_provider_gets_a_smaller_share() -> None:
    """60 errors of 100 against a clean peer: factor 0.4; the peer keeps 1.0."""
    factors = health_factors({"a": stats(100, 60), "b": stats(100, 0)}, min_calls=20)
    assert factors["a"] == pytest.approx(0.4)
    assert factors["b"] == 1.0


def test_all_failing_provider_keeps_a_trickle() -> None:
    factors = health_factors({"a": stats(50, 50), "b": stats(50, 1)}, min_calls=20)
    assert factors["a"] == MIN_FACTOR


def test_slow_provider_gets_a_smaller_share() -> None:
    """A 2,000 ms mean against a 100 ms peer: factor 2 * 100 / 2000 = 0.1."""
    factors = health_factors({"a": stats(50, mean_ms=2000), "b": stats(50)}, min_calls=20)
    assert factors["a"] == pytest.approx(0.1)
    # Three times slower but only 200 ms more is not "far worse".
    assert health_factors({"a": stats(50, mean_ms=300), "b": stats(50)}, min_calls=20)["a"] == 1.0


def test_too_few_calls_are_not_judged() -> None:
    factors = health_factors({"a": stats(5, 5), "b": stats(100)}, min_calls=20)
    assert factors == {"a": 1.0, "b": 1.0}
    assert health_factors({"a": stats(100, 100)}, min_calls=20) == {"a": 1.0}  # no peer


def test_route_factors_judge_a_route_with_its_largest_min_calls() -> None:
    windows = {"a": stats(30, 30), "b": stats(30), "c": stats(30)}
    min_calls = {"a": 20, "b": 20, "c": 50}
    assert route_factors(("a", "b"), True, windows, min_calls)["a"] == MIN_FACTOR
    assert route_factors(("a", "b", "c"), True, windows, min_calls) == {
        "a": 1.0,
        "b": 1.0,
        "c": 1.0,
    }
    assert route_factors(("a", "b"), False, windows, min_calls) == {}  # unweighted
    assert route_factors(("a", "b"), True, windows, min_calls, adaptive=False) == {}
    assert route_factors((), True, windows, min_calls) == {}  # every provider disabled
