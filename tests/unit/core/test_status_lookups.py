"""When a provider that reports only when asked is next asked about a message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.status_lookups import next_lookup_wait_ms

DEFAULT_MS = tuple(1000 * s for s in (30, 60, 120, 300, 600, 1_800, 3_600))


@pytest.mark.parametrize(
    ("lookups_made", "wait_s"),
    [
        (0, 30),
        (1, 60),
        (2, 120),
        (3, 300),
        (4, 600),
        (5, 1_800),
        (6, 3_600),
        (7, 3_600),
        (50, 3_600),
    ],
)
def test_the_default_schedule_then_hourly(lookups_made: int, wait_s: int) -> None:
    assert next_lookup_wait_ms(DEFAULT_MS, lookups_made) == wait_s * 1000


@given(
    st.lists(st.integers(min_value=1_000, max_value=86_400_000), min_size=1, max_size=12),
    st.integers(min_value=0, max_value=10_000),
)
def test_each_wait_is_the_schedules_own_and_the_last_repeats(
    schedule: list[int], lookups_made: int
) -> None:
    wait = next_lookup_wait_ms(schedule, lookups_made)
    assert wait == schedule[lookups_made] if lookups_made < len(schedule) else schedule[-1]
    assert next_lookup_wait_ms(schedule, lookups_made + len(schedule)) == schedule[-1]


def test_an_empty_schedule_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one wait"):
        next_lookup_wait_ms((), 0)
