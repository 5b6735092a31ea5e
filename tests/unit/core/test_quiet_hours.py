"""Quiet hours by the recipient's local time, with a clock the test sets. Pure."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.quiet_hours import QuietRules, QuietWindow, parse_clock, quiet_until_ms

NIGHT = QuietRules(QuietWindow(time(21, 0), time(8, 0)))
LONDON = "+442079460000"
NEW_YORK = "+12125551234"
AUSTRALIA = "+61412345678"  # a mobile: any of the country's zones
RUSSIA = "+79161234567"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def test_inside_the_window_it_waits_until_the_local_end() -> None:
    assert quiet_until_ms(LONDON, ms("2026-12-03T22:30:00+00:00"), NIGHT) == ms(
        "2026-12-04T08:00:00+00:00"
    )
    assert quiet_until_ms(LONDON, ms("2026-12-04T07:59:00+00:00"), NIGHT) == ms(
        "2026-12-04T08:00:00+00:00"
    )


def test_outside_the_window_and_at_its_end_it_goes() -> None:
    assert quiet_until_ms(LONDON, ms("2026-12-03T12:00:00+00:00"), NIGHT) is None
    assert quiet_until_ms(LONDON, ms("2026-12-04T08:00:00+00:00"), NIGHT) is None
    assert quiet_until_ms(LONDON, ms("2026-12-03T20:59:59+00:00"), NIGHT) is None


def test_the_local_time_is_the_recipient_s() -> None:
    # 23:00 in London is 18:00 in New York: not quiet there.
    assert quiet_until_ms(NEW_YORK, ms("2026-12-03T23:00:00+00:00"), NIGHT) is None
    # 03:00 in London is 22:00 in New York: quiet until 08:00 there, 13:00 UTC.
    assert quiet_until_ms(NEW_YORK, ms("2026-12-04T03:00:00+00:00"), NIGHT) == ms(
        "2026-12-04T13:00:00+00:00"
    )


def test_a_country_of_several_zones_is_quiet_while_any_of_them_is() -> None:
    # 22:00 UTC: 09:00 in Sydney (open), 06:00 in Perth, 04:30 on the Cocos Islands (UTC+6:30),
    # which libphonenumber counts among an Australian mobile's zones: quiet until 08:00 there.
    now = ms("2026-12-03T22:00:00+00:00")
    until = quiet_until_ms(AUSTRALIA, now, NIGHT)
    assert until == ms("2026-12-04T01:30:00+00:00")
    for zone in ("Australia/Perth", "Australia/Sydney", "Indian/Cocos", "Indian/Christmas"):
        local = datetime.fromtimestamp(until / 1000, UTC).astimezone(ZoneInfo(zone)).time()
        assert not NIGHT.window_for(None).is_quiet(local)  # type: ignore[union-attr]


def test_a_country_may_have_its_own_window_or_none() -> None:
    rules = QuietRules(
        QuietWindow(time(21, 0), time(8, 0)),
        {"US": QuietWindow(time(20, 0), time(9, 0)), "GB": None},
    )
    assert quiet_until_ms(LONDON, ms("2026-12-03T23:00:00+00:00"), rules) is None
    # 08:30 in New York is inside the US window (until 09:00).
    assert quiet_until_ms(NEW_YORK, ms("2026-12-03T13:30:00+00:00"), rules) == ms(
        "2026-12-03T14:00:00+00:00"
    )


def test_no_window_no_zone_or_an_empty_window_never_holds() -> None:
    at = ms("2026-12-03T23:00:00+00:00")
    assert quiet_until_ms(LONDON, at, QuietRules()) is None
    assert quiet_until_ms(LONDON, at, QuietRules(QuietWindow(time(9), time(9)))) is None
    assert quiet_until_ms("+447700900123", at, NIGHT) is None  # a number of no known zone


def test_a_window_that_does_not_cross_midnight() -> None:
    lunch = QuietRules(QuietWindow(time(12, 0), time(14, 0)))
    assert quiet_until_ms(LONDON, ms("2026-12-03T13:00:00+00:00"), lunch) == ms(
        "2026-12-03T14:00:00+00:00"
    )
    assert quiet_until_ms(LONDON, ms("2026-12-03T15:00:00+00:00"), lunch) is None


def test_zones_spread_wider_than_the_open_hours_never_open() -> None:
    long_night = QuietRules(QuietWindow(time(16, 0), time(10, 0)))  # open 6 h a day
    assert quiet_until_ms(RUSSIA, ms("2026-12-03T12:00:00+00:00"), long_night) == -1


def test_a_bad_clock_is_refused() -> None:
    for text in ("9", "25:00", "9:5", "nine"):
        with pytest.raises(ValueError):  # noqa: PT011 - the message names the text
            parse_clock(text)


@given(
    now=st.integers(ms("2026-01-01T00:00:00+00:00"), ms("2027-12-31T00:00:00+00:00")),
    start=st.integers(0, 23),
    length=st.integers(1, 12),
    number=st.sampled_from([LONDON, NEW_YORK, AUSTRALIA, "+5511987654321", "+919876543210"]),
)
def test_the_wait_ends_at_a_moment_no_zone_of_the_number_is_quiet(
    now: int, start: int, length: int, number: str
) -> None:
    rules = QuietRules(QuietWindow(time(start), time((start + length) % 24)))
    until = quiet_until_ms(number, now, rules)
    if until is None:
        return
    assert now < until <= now + 2 * 86_400_000
    import phonenumbers
    from phonenumbers import timezone as zones

    moment = datetime.fromtimestamp(until / 1000, UTC)
    window = rules.window_for(None)
    assert window is not None
    for name in zones.time_zones_for_number(phonenumbers.parse(number)):
        assert not window.is_quiet(moment.astimezone(ZoneInfo(name)).time()), name
