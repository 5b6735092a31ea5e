"""The pumping guard's arithmetic: how many messages went to a number, a number range or a
country lately, and when one more may go. Pure.

SMS pumping sends one-time codes to premium ranges, many numbers of one range or many sends to
one number. Each message is counted, at the door, against three limits over a sliding window
(``guard.window_s``, an hour by default): its number, its range (the number without its last
``guard.range_digits`` digits) and its country. Each category counts apart (``otp`` may have
limits of its own), and 0 is no limit.

The window slides by the two-bucket estimate: the counts of the window now under way and of the
one before it, that one weighed by the share of it still inside the sliding window
(``previous * (1 - elapsed / window) + current``). It holds two counters a limit, whatever the
traffic, and it is exact when the previous window's messages came evenly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = [
    "LIMIT_NAMES",
    "VelocityCheck",
    "VelocityLimits",
    "VelocityRefusal",
    "VelocityWindow",
    "number_range",
    "retry_after_ms",
    "sliding_count",
    "velocity_checks",
]

LIMIT_NAMES: tuple[str, ...] = ("number", "range", "country")


@dataclass(frozen=True, slots=True)
class VelocityLimits:
    """Messages a window may take to one number, one range, one country (0: no limit)."""

    per_number: int
    per_range: int
    per_country: int


@dataclass(frozen=True, slots=True)
class VelocityCheck:
    """One limit a message is counted against: its name, the counter, the most it may hold."""

    limit: str  # "number" | "range" | "country"
    counter: str  # "<category>:<limit>:<number, range or region>"
    most: int


def number_range(e164: str, digits: int) -> str:
    """The range of an E.164 number: the number without its last ``digits`` digits (at least
    the + and one digit are kept)."""
    return e164[: max(len(e164) - digits, 2)]


def velocity_checks(
    e164: str, region: str, category: str, limits: VelocityLimits, *, range_digits: int
) -> tuple[VelocityCheck, ...]:
    """The limits a message to ``e164`` in ``region`` of ``category`` is counted against."""
    values = {
        "number": (limits.per_number, e164),
        "range": (limits.per_range, number_range(e164, range_digits)),
        "country": (limits.per_country, region),
    }
    return tuple(
        VelocityCheck(name, f"{category}:{name}:{value}", most)
        for name, (most, value) in values.items()
        if most > 0
    )


@dataclass(frozen=True, slots=True)
class VelocityWindow:
    """The fixed windows the sliding one is estimated from, ``window_ms`` long each."""

    window_ms: int

    def bucket(self, now_ms: int) -> int:
        """The number of the window under way at ``now_ms``."""
        return now_ms // self.window_ms

    def elapsed_ms(self, now_ms: int) -> int:
        return now_ms % self.window_ms

    def previous_weight(self, now_ms: int) -> float:
        """The share of the previous window still inside the sliding window."""
        return 1.0 - self.elapsed_ms(now_ms) / self.window_ms


def sliding_count(previous: int, current: int, weight: float) -> float:
    """The messages counted in the sliding window (see the module text)."""
    return previous * weight + current


def retry_after_ms(previous: int, current: int, most: int, elapsed_ms: int, window_ms: int) -> int:
    """How long until one more message fits under ``most``, if no other is sent meanwhile
    (0: it fits now). ``previous`` and ``current`` are the counts of the window before and of
    the one under way, ``elapsed_ms`` into it. A wait is a millisecond longer than the exact
    moment, which floating point may judge either way."""
    if current + 1 <= most:
        if (
            previous == 0
            or sliding_count(previous, current, 1 - elapsed_ms / window_ms) + 1 <= most
        ):
            return 0
        # previous * (1 - e / W) + current + 1 <= most, for the smallest e from now on.
        needed = window_ms * (1 - (most - 1 - current) / previous)
        return max(math.ceil(needed) + 1 - elapsed_ms, 0)
    # Not in this window: in the next, this window's count is the previous one.
    needed = window_ms * (1 - (most - 1) / current)
    return window_ms - elapsed_ms + max(math.ceil(needed) + 1, 0)


@dataclass(frozen=True, slots=True)
class VelocityRefusal:
    """A message one limit had no room for: the counts it found, in the window before and in
    the window under way."""

    limit: str
    previous: int
    current: int
    most: int

    @classmethod
    def parse(cls, text: str) -> VelocityRefusal:
        """From the create script's ``"<limit>|<previous>|<current>|<most>"``."""
        limit, previous, current, most = text.split("|")
        return cls(limit, int(previous), int(current), int(most))

    def retry_after_s(self, window: VelocityWindow, now_ms: int) -> int:
        """Whole seconds until one more message fits (at least 1)."""
        wait = retry_after_ms(
            self.previous, self.current, self.most, window.elapsed_ms(now_ms), window.window_ms
        )
        return max(math.ceil(wait / 1000), 1)
