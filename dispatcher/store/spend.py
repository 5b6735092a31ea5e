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
    """Spent and held today and this month, by counter (micro-units), in one round trip."""
    periods = SpendPeriods.at(now_ms)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(spend_key(periods.day))
    pipe.hgetall(spend_key(periods.month))
    day, month = pipe.execute()
    return {
        period: {str(k): int(float(v)) for k, v in raw.items() if k != "~"}
        for period, raw in (("day", day), ("month", month))
    }
