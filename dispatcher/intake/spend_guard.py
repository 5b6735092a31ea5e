"""Spend caps at the door: what a new message is priced at, and the caps it is held to.

A message is priced by the first provider of its route (its own ``providers``, else the route
for its destination; a weighted route's first draw by the configured weights), at that
provider's price per segment for the destination (``[prices.PROVIDER]``), times its segments.
That amount is reserved against every cap that applies (``spend.daily_limit``,
``spend.monthly_limit``, ``[spend.countries.XX]``, the API key's ``daily_spend`` and
``monthly_spend``) by the create script, and settled when its sending ends
(``finish_message.lua``): another provider, more or fewer segments, or nothing sent.
"""

from __future__ import annotations

import dataclasses

from dispatcher.config.settings import Settings
from dispatcher.core.countries import region_of
from dispatcher.core.key_rules import KeyRules
from dispatcher.core.message_record import MessageRecord
from dispatcher.core.pricing import prices_to
from dispatcher.core.routing import (
    cheapest_first,
    draw_for,
    order_route,
    route_for,
    route_name_for,
)
from dispatcher.core.spend_caps import SpendCap, SpendPeriods, counters_for

__all__ = ["SpendGuard"]


class SpendGuard:
    """The prices, routes and caps of one deployment, for messages at the door."""

    def __init__(self, settings: Settings) -> None:
        self._spend = settings.spend
        self._routes = settings.routes
        self._enabled = [name for name, p in settings.providers.items() if p.enabled]
        self.prices = settings.price_tables()

    def caps(self, record: MessageRecord, key: KeyRules | None) -> tuple[SpendCap, ...]:
        """Every cap ``record`` is held to, sent with ``key``."""
        caps = list(self._spend.caps_for(region_of(record.to)))
        if key is not None and key.daily_spend:
            name = f"api.keys.{key.name}.daily_spend"
            caps.append(SpendCap(f"key:{key.name}", "day", key.daily_spend, name))
        if key is not None and key.monthly_spend:
            name = f"api.keys.{key.name}.monthly_spend"
            caps.append(SpendCap(f"key:{key.name}", "month", key.monthly_spend, name))
        return tuple(caps)

    def first_provider(self, record: MessageRecord) -> str | None:
        """The provider a message is priced by: the first of its route."""
        route = route_for(
            record.to,
            override=record.providers,
            prefixes=self._routes.prefix_routes,
            default=self._routes.default_route,
            enabled=self._enabled,
        )
        if not route.providers:
            return None
        if not record.providers and self._routes.least_cost(
            route_name_for(record.to, self._routes.prefix_routes)
        ):
            prices = prices_to(self.prices, route.providers, record.to)
            return cheapest_first(route.providers, prices, {})[0]
        return order_route(route, draw_for(record.id), {})[0]

    def hold(self, record: MessageRecord, key: KeyRules | None, now_ms: int) -> MessageRecord:
        """``record`` with what to reserve for it, when a cap applies to it."""
        if not self.caps(record, key):
            return record
        provider = self.first_provider(record)
        table = self.prices.get(provider) if provider else None
        amount = table.cost(record.to, record.segments) if table else 0
        return dataclasses.replace(
            record,
            spend_held=amount,
            spend_counters=counters_for(region_of(record.to), key.name if key else None),
            spend_day=SpendPeriods.at(now_ms).day,
        )
