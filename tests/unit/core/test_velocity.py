"""The pumping guard's arithmetic: its checks, the sliding count and when to try again."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.velocity import (
    VelocityCheck,
    VelocityLimits,
    VelocityRefusal,
    VelocityWindow,
    number_range,
    retry_after_ms,
    sliding_count,
    velocity_checks,
)

HOUR_MS = 3_600_000


def test_a_number_is_counted_by_itself_its_range_and_its_country() -> None:
    checks = velocity_checks(
        "+14155552671", "US", "otp", VelocityLimits(5, 20, 300), range_digits=4
    )
    assert checks == (
        VelocityCheck("number", "otp:number:+14155552671", 5),
        VelocityCheck("range", "otp:range:+1415555", 20),
        VelocityCheck("country", "otp:country:US", 300),
    )


def test_a_limit_of_zero_is_no_limit() -> None:
    checks = velocity_checks(
        "+14155552671", "US", "marketing", VelocityLimits(0, 20, 0), range_digits=3
    )
    assert [c.limit for c in checks] == ["range"]
    assert checks[0].counter == "marketing:range:+14155552"


def test_a_short_number_keeps_its_plus_and_first_digit_as_its_range() -> None:
    assert number_range("+123", 4) == "+1"


def _fits(counts: tuple[int, int, int], most: int) -> bool:
    """Whether one more message fits under ``most`` at ``counts`` (previous, current, time into
    the window under way), as the create script judges it."""
    previous, current, elapsed_ms = counts
    return sliding_count(previous, current, 1 - elapsed_ms / HOUR_MS) + 1 <= most


def _after(previous: int, current: int, elapsed_ms: int, wait_ms: int) -> tuple[int, int, int]:
    """The counts and the time into the window ``wait_ms`` later, nothing sent meanwhile."""
    windows, into = divmod(elapsed_ms + wait_ms, HOUR_MS)
    if windows == 0:
        return previous, current, into
    if windows == 1:
        return current, 0, into
    return 0, 0, into


@given(
    previous=st.integers(0, 500),
    current=st.integers(0, 500),
    most=st.integers(1, 300),
    elapsed_ms=st.integers(0, HOUR_MS - 1),
)
def test_retry_after_is_the_first_moment_one_more_fits(
    previous: int, current: int, most: int, elapsed_ms: int
) -> None:
    wait = retry_after_ms(previous, current, most, elapsed_ms, HOUR_MS)
    assert 0 <= wait <= 2 * HOUR_MS + 1
    assert _fits(_after(previous, current, elapsed_ms, wait), most)
    if wait > 2:  # the wait is a millisecond long; a millisecond of rounding either way
        assert not _fits(_after(previous, current, elapsed_ms, wait - 3), most)


@given(
    previous=st.integers(0, 50),
    current=st.integers(0, 50),
    most=st.integers(1, 60),
    elapsed_ms=st.integers(0, HOUR_MS - 1),
)
def test_no_wait_when_one_more_fits_now(
    previous: int, current: int, most: int, elapsed_ms: int
) -> None:
    fits = _fits((previous, current, elapsed_ms), most)
    assert (retry_after_ms(previous, current, most, elapsed_ms, HOUR_MS) == 0) == fits


def test_a_full_window_waits_for_the_next_and_then_for_its_weight_to_fall() -> None:
    # 5 of 5 sent in the first quarter of this window: this window never fits one more; in the
    # next, 5 x (1 - e / W) + 1 <= 5 from e = W / 5.
    wait = retry_after_ms(0, 5, 5, HOUR_MS // 4, HOUR_MS)
    assert wait == HOUR_MS * 3 // 4 + HOUR_MS // 5 + 1


def test_the_refusal_reads_the_scripts_answer_and_waits_whole_seconds() -> None:
    refusal = VelocityRefusal.parse("number|0|5|5")
    assert refusal == VelocityRefusal("number", 0, 5, 5)
    window = VelocityWindow(HOUR_MS)
    now = 10 * HOUR_MS + HOUR_MS // 2
    assert refusal.retry_after_s(window, now) == (HOUR_MS // 2 + HOUR_MS // 5) // 1000 + 1
    assert VelocityRefusal("number", 2, 0, 5).retry_after_s(window, now) == 1  # fits: at least 1


def test_the_window_weighs_the_previous_one_by_what_is_left_of_it() -> None:
    window = VelocityWindow(1000)
    assert window.bucket(12_250) == 12
    assert window.elapsed_ms(12_250) == 250
    assert window.previous_weight(12_250) == 0.75
