"""Spend caps: how much a day and a month (UTC) may cost, for the whole deployment, for one API
key and for one destination country. Pure.

At the door a message is priced by the first provider of its route and that amount is reserved
against every cap that applies to it, in the same step that records it (the create script);
when its sending ends the reservation is settled with what its attempts cost. Each counter
(``all``, ``key:<name>``, ``country:<region>``) is kept per UTC day and per UTC month.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["SpendCap", "SpendPeriods", "counters_for", "key_caps"]

_FORMATS = {"day": "%Y%m%d", "month": "%Y%m"}
_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class SpendCap:
    """One cap: the counter it holds down, over a day or a month, to at most ``limit``
    micro-units; ``name`` is its setting."""

    counter: str
    period: str  # "day" | "month"
    limit: int
    name: str


@dataclass(frozen=True, slots=True)
class SpendPeriods:
    """The UTC day and month a moment falls in, as spend keys name them."""

    day: str  # "20261204"
    month: str  # "202612"

    @classmethod
    def at(cls, now_ms: int) -> SpendPeriods:
        return _periods_of(now_ms // _DAY_MS)

    @classmethod
    def of_day(cls, day: str) -> SpendPeriods:
        return cls(day, day[:6])

    def seconds_left(self, period: str, now_ms: int) -> int:
        """Whole seconds from ``now_ms`` until the day (``period`` "day") or the month ends."""
        start = datetime.strptime(self.day if period == "day" else self.month, _FORMATS[period])
        start = start.replace(tzinfo=UTC)
        if period == "day":
            end = start + timedelta(days=1)
        else:
            end = (start + timedelta(days=32)).replace(day=1)
        return max(math.ceil(end.timestamp() - now_ms / 1000), 1)


def key_caps(name: str, daily: int | None, monthly: int | None) -> tuple[SpendCap, ...]:
    """An API key's own caps (micro-units a UTC day and a month; None or 0: none)."""
    return tuple(
        SpendCap(f"key:{name}", period, limit, f"api.keys.{name}.{setting}")
        for period, setting, limit in (
            ("day", "daily_spend", daily),
            ("month", "monthly_spend", monthly),
        )
        if limit
    )


def counters_for(region: str, api_key: str | None) -> tuple[str, ...]:
    """The counters a message's cost is kept in."""
    counters = ["all", f"country:{region}"]
    if api_key:
        counters.append(f"key:{api_key}")
    return tuple(counters)


@functools.lru_cache(maxsize=4)
def _periods_of(day_number: int) -> SpendPeriods:
    """The periods of the UTC day ``day_number`` days after the epoch (read for every message:
    worked out once a day)."""
    moment = datetime.fromtimestamp(day_number * 86_400, UTC)
    return SpendPeriods(moment.strftime("%Y%m%d"), moment.strftime("%Y%m"))
