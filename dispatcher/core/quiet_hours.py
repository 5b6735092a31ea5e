"""Quiet hours: when a marketing message may not reach its recipient, by the recipient's local
time. Pure.

The local time comes from the number (``phonenumbers.timezone``). A number whose country spans
several time zones is quiet while any of them is, so a message waits until every zone the number
may be in is out of its quiet window. A window runs from ``start`` to ``end`` local time and may
cross midnight (``21:00`` to ``08:00``); a country may have its own window, or none. A number whose
zone libphonenumber does not know is never held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_timezones

__all__ = ["QuietRules", "QuietWindow", "parse_clock", "quiet_until_ms"]

# How many times the search for a moment when no zone is quiet looks again (each look moves to
# the latest end among the zones quiet at the moment before).
_LOOKS = 8
_NEVER = -1


def parse_clock(text: str) -> time:
    """``"21:00"`` as a time of day; ValueError otherwise."""
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(f"{text!r} is not a time of day HH:MM")
    return time(int(hours), int(minutes))


@dataclass(frozen=True, slots=True)
class QuietWindow:
    """From ``start`` to ``end``, local time; ``start == end`` is never quiet."""

    start: time
    end: time

    def is_quiet(self, local: time) -> bool:
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def ends_after(self, local: datetime) -> datetime:
        """The first end of the window after ``local`` (a quiet moment), in its zone."""
        end = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        return end if end > local else end + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class QuietRules:
    """The window for every country (None: no quiet hours), and a window (or None: none) for
    some countries by ISO region code."""

    default: QuietWindow | None = None
    countries: Mapping[str, QuietWindow | None] = field(default_factory=dict)

    def window_for(self, region: str | None) -> QuietWindow | None:
        if region is not None and region in self.countries:
            return self.countries[region]
        return self.default

    @property
    def active(self) -> bool:
        return self.default is not None or any(self.countries.values())


@lru_cache(maxsize=4096)
def _zones_and_region(number: str) -> tuple[tuple[ZoneInfo, ...], str | None]:
    """The time zones a number may be in (none when unknown) and its region code."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return (), None
    zones = []
    for name in number_timezones.time_zones_for_number(parsed):
        try:
            zones.append(ZoneInfo(name))
        except (ZoneInfoNotFoundError, ValueError):
            continue  # "Etc/Unknown" and names this machine lacks
    return tuple(zones), phonenumbers.region_code_for_number(parsed)


def quiet_until_ms(number: str, now_ms: int, rules: QuietRules) -> int | None:
    """None when a marketing message may reach ``number`` at ``now_ms``; else the first moment
    (epoch ms) when none of its zones is quiet, or -1 when no such moment comes within days
    (zones spread wider than the open hours)."""
    zones, region = _zones_and_region(number)
    window = rules.window_for(region)
    if window is None or not zones:
        return None
    moment = datetime.fromtimestamp(now_ms / 1000, UTC)
    for _ in range(_LOOKS):
        ends = [
            window.ends_after(moment.astimezone(zone))
            for zone in zones
            if window.is_quiet(moment.astimezone(zone).time())
        ]
        if not ends:
            at_ms = int(moment.timestamp() * 1000)
            return None if at_ms == now_ms else at_ms
        moment = max(end.astimezone(UTC) for end in ends)
    return _NEVER
