"""What the deployment spent and holds against its caps, for stats, the dashboard and
``/metrics``."""

from __future__ import annotations

from typing import Any

from dispatcher.config.settings import Settings
from dispatcher.core.pricing import from_micros
from dispatcher.core.spend_caps import SpendCap, key_caps
from dispatcher.store.connection import RedisClient
from dispatcher.store.spend import spend_now

__all__ = ["spend_view"]


def _caps(settings: Settings) -> list[SpendCap]:
    """Every cap configured: the deployment's, each country's and each API key's."""
    caps = list(settings.spend.all_caps())
    for name, key in settings.api.keys.items():
        caps += key_caps(name, *key.spend_micros())
    return caps


def spend_view(settings: Settings, client: RedisClient, *, now_ms: int) -> dict[str, Any]:
    """``{"currency", "day": {counter: spent}, "month": {...}, "caps": [{"name", "period",
    "counter", "limit", "spent", "share"}]}``; spent counts what is held for messages still
    being sent."""
    found = spend_now(client, now_ms=now_ms)
    caps = []
    for cap in _caps(settings):
        spent = found[cap.period].get(cap.counter, 0)
        caps.append(
            {
                "name": cap.name,
                "period": cap.period,
                "counter": cap.counter,
                "limit": from_micros(cap.limit),
                "spent": from_micros(spent),
                "share": round(spent / cap.limit, 4),
            }
        )
    return {
        "currency": settings.spend.currency,
        **{
            period: {counter: from_micros(n) for counter, n in sorted(counts.items())}
            for period, counts in found.items()
        },
        "caps": caps,
    }
