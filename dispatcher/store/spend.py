"""The spend counters of the current UTC day and month, read for operators
(:mod:`dispatcher.core.spend_caps`)."""

from __future__ import annotations

import redis

from dispatcher.core.spend_caps import SpendPeriods
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.redis_keys import spend_key

__all__ = ["spend_now"]


@translates_redis_errors
def spend_now(client: redis.Redis, *, now_ms: int) -> dict[str, dict[str, int]]:
    """Spent and held today and this month, by counter (micro-units), in one read."""
    periods = SpendPeriods.at(now_ms)
    raw: dict[str, str] = client.hgetall(spend_key(periods.month))  # type: ignore[assignment]
    today = periods.day[6:] + "|"
    found: dict[str, dict[str, int]] = {"day": {}, "month": {}}
    for field, value in raw.items():
        if field.startswith(today):
            found["day"][field.removeprefix(today)] = int(float(value))
        elif "|" not in field and field != "~":
            found["month"][field] = int(float(value))
    return found
