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

from dataclasses import dataclass

from dispatcher.config.settings import Settings
from dispatcher.core.key_rules import KeyRules
from dispatcher.core.routing import providers_in_order
from dispatcher.core.spend_caps import SpendCap, SpendPeriods, counters_for, key_caps
from dispatcher.intake.validation import NewMessage

__all__ = ["SpendGuard", "SpendHold"]


@dataclass(frozen=True, slots=True)
class SpendHold:
    """What to reserve for a new message: the amount (micro-units), the counters it is kept
    in, the UTC day of the reservation."""

    amount: int
    counters: tuple[str, ...]
    day: str


class SpendGuard:
    """The prices, routes and caps of one deployment, for messages at the door."""

    def __init__(self, settings: Settings) -> None:
        self._routes = settings.routes
        self._enabled = [name for name, p in settings.providers.items() if p.enabled]
        self.prices = settings.price_tables()
        self._all_caps = settings.spend.all_caps()  # worked out once: read for every message

    def caps(self, region: str, key: KeyRules | None) -> tuple[SpendCap, ...]:
        """Every cap a message to ``region`` sent with ``key`` is held to."""
        mine = ("all", f"country:{region}")
        caps = tuple(cap for cap in self._all_caps if cap.counter in mine)
        if key is None:
            return caps
        return caps + key_caps(key.name, key.daily_spend, key.monthly_spend)

    def first_provider(self, message_id: str, to: str, providers: tuple[str, ...]) -> str | None:
        """The provider a message is priced by: the first of its route."""
        route = self._routes.route_of(to, providers, self._enabled)
        if not route.providers:
            return None
        return providers_in_order(
            route,
            message_id=message_id,
            to=to,
            least_cost=self._routes.tries_cheapest_first(to, providers),
            prices=self.prices,
            factors={},
        )[0]

    def hold(
        self, message_id: str, message: NewMessage, key: KeyRules | None, now_ms: int
    ) -> SpendHold | None:
        """What to reserve for ``message`` (to be recorded as ``message_id``), when a cap
        applies to it."""
        if not self.caps(message.region, key):
            return None
        provider = self.first_provider(message_id, message.to, message.providers)
        table = self.prices.get(provider) if provider else None
        amount = table.cost(message.to, message.segments) if table else 0
        return SpendHold(
            amount,
            counters_for(message.region, key.name if key else None),
            SpendPeriods.at(now_ms).day,
        )
