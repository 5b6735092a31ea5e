"""Retry policy: full-jitter backoff within bounds, Retry-After as a floor, attempt budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.retry_policy import RetryPolicy, resolve_policy

policies = st.builds(
    lambda base, factor, attempts: RetryPolicy(
        base_s=base, cap_s=base * factor, max_attempts=attempts
    ),
    st.floats(min_value=0.01, max_value=60),
    st.floats(min_value=1, max_value=1000),
    st.integers(min_value=1, max_value=50),
)


@given(policies, st.integers(min_value=1, max_value=200), st.floats(min_value=0, max_value=1))
def test_delay_stays_within_zero_and_the_capped_ceiling(
    policy: RetryPolicy, retry_number: int, draw: float
) -> None:
    """Full jitter: 0 <= delay <= min(cap, base * 2**(n-1)) <= cap."""
    delay = policy.delay_s(retry_number, rand=lambda: draw)
    assert 0 <= delay <= policy.ceiling_s(retry_number) <= policy.cap_s
    assert policy.ceiling_s(retry_number) <= policy.base_s * 2 ** (retry_number - 1) + 1e-9


@given(policies, st.integers(min_value=1, max_value=100))
def test_ceiling_never_shrinks(policy: RetryPolicy, retry_number: int) -> None:
    """Each retry may wait at least as long as the one before."""
    assert policy.ceiling_s(retry_number + 1) >= policy.ceiling_s(retry_number)


@given(
    policies,
    st.integers(min_value=1, max_value=30),
    st.floats(min_value=0, max_value=10_000),
    st.floats(min_value=0, max_value=1),
)
def test_retry_after_is_a_floor(
    policy: RetryPolicy, retry_number: int, retry_after: float, draw: float
) -> None:
    """Never earlier than the provider asked."""
    assert policy.delay_s(retry_number, retry_after_s=retry_after, rand=lambda: draw) >= retry_after


@given(policies, st.integers(min_value=0, max_value=100))
def test_attempt_budget(policy: RetryPolicy, attempts_made: int) -> None:
    """Another attempt is allowed only while fewer than max_attempts were made."""
    assert policy.has_attempts_left(attempts_made) == (attempts_made < policy.max_attempts)


def test_first_retries_double() -> None:
    """Ceilings 1, 2, 4, 8 ... up to the cap."""
    policy = RetryPolicy(base_s=1, cap_s=10, max_attempts=9)
    assert [policy.ceiling_s(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


@pytest.mark.parametrize(("base", "cap", "attempts"), [(0, 1, 1), (2, 1, 1), (1, 1, 0)])
def test_nonsense_policies_are_refused(base: float, cap: float, attempts: int) -> None:
    """base > 0, cap >= base, at least one attempt."""
    with pytest.raises(ValueError, match="retry policy"):
        RetryPolicy(base_s=base, cap_s=cap, max_attempts=attempts)


def test_precedence_message_then_provider_then_default() -> None:
    """The most specific policy wins."""
    default, provider, message = (RetryPolicy(max_attempts=n) for n in (1, 2, 3))
    assert resolve_policy(default) is default
    assert resolve_policy(default, provider) is provider
    assert resolve_policy(default, provider, message) is message
    assert resolve_policy(default, None, message) is message
