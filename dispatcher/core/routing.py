"""Which providers a message may use, in order. Pure: no I/O.

A route is an ordered list of providers, or a weighted one: each message's first provider is
drawn by weight (the draw is fixed by the message id, so a redelivered job makes the same
choice), and the other providers of the route follow as its failover order. A provider of weight
0 is never drawn first; it only takes over. Weights are multiplied by each provider's health
factor (:mod:`dispatcher.core.provider_health`) before the draw, so a provider doing far worse than
its peers gets a smaller share until it recovers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dispatcher.core.pricing import PriceTable, prices_to

__all__ = [
    "Route",
    "cheapest_first",
    "draw_for",
    "order_route",
    "providers_in_order",
    "route_for",
    "route_name_for",
    "shares",
]


@dataclass(frozen=True, slots=True)
class Route:
    """Providers in configured order; ``weights`` (same length) when the route is weighted."""

    providers: tuple[str, ...]
    weights: tuple[float, ...] | None = None

    @classmethod
    def from_steps(cls, where: str, steps: Sequence[Any]) -> Route:
        """A route from config steps: names, or objects with ``provider`` and ``weight``.

        Raises :class:`ValueError` as ``"<where>: <reason>"`` when the route makes no sense.
        """
        if not steps:
            if where == "routes.default":  # only prefix routes: other destinations have none
                return cls(())
            raise ValueError(f"{where}: must name at least one provider")
        weighted = [not isinstance(step, str) for step in steps]
        if any(weighted) and not all(weighted):
            raise ValueError(
                f"{where}: give every provider of a route a weight, or none "
                "(weight 0 makes a provider failover only)"
            )
        names = tuple(step if isinstance(step, str) else step.provider for step in steps)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"{where}: names {duplicates[0]!r} more than once")
        if not all(weighted):
            return cls(names)
        weights = tuple(float(step.weight) for step in steps)
        if sum(weights) <= 0:
            raise ValueError(f"{where}: at least one weight must be above 0")
        return cls(names, weights)

    def only(self, enabled: Collection[str]) -> Route:
        """The route without the providers not in ``enabled``."""
        keep = [i for i, name in enumerate(self.providers) if name in enabled]
        weights = None if self.weights is None else tuple(self.weights[i] for i in keep)
        return Route(tuple(self.providers[i] for i in keep), weights)


def route_for(
    to_e164: str,
    *,
    override: tuple[str, ...],
    prefixes: Mapping[str, Route],
    default: Route,
    enabled: Collection[str],
) -> Route:
    """The route for ``to_e164``: the message's own list, else the longest matching prefix route
    (prefixes are E.164 digits without ``+``), else the default route; disabled providers are
    left out."""
    if override:
        chosen = Route(override)
    else:
        digits = to_e164.lstrip("+")
        matches = [p for p in prefixes if digits.startswith(p)]
        chosen = prefixes[max(matches, key=len)] if matches else default
    return chosen.only(enabled)


def route_name_for(to_e164: str, prefixes: Collection[str]) -> str:
    """Which configured route a destination takes: its longest matching prefix, else
    ``default`` (as :func:`route_for` chooses, for a message without its own list)."""
    digits = to_e164.lstrip("+")
    matches = [p for p in prefixes if digits.startswith(p)]
    return max(matches, key=len) if matches else "default"


def cheapest_first(
    providers: Sequence[str], prices: Mapping[str, int | None], factors: Mapping[str, float]
) -> tuple[str, ...]:
    """A least-cost route's order: each provider's price for the destination divided by its
    health factor (a provider doing half as well as its peers counts as twice as dear), lowest
    first; a provider without a price goes after those with one; ties keep configured order."""

    def dearness(name: str) -> tuple[bool, float, int]:
        price = prices.get(name)
        factor = max(factors.get(name, 1.0), 1e-6)
        return (price is None, (price or 0) / factor, providers.index(name))

    return tuple(sorted(providers, key=dearness))


def providers_in_order(
    route: Route,
    *,
    message_id: str,
    to: str,
    least_cost: bool,
    prices: Mapping[str, PriceTable],
    factors: Mapping[str, float],
) -> tuple[str, ...]:
    """The order a message tries the providers of ``route``: cheapest first for ``to`` on a
    least-cost route (:func:`cheapest_first`), else by weight at the message's draw
    (:func:`order_route`); ``factors``: the providers' health factors."""
    if least_cost:
        return cheapest_first(route.providers, prices_to(prices, route.providers, to), factors)
    return order_route(route, draw_for(message_id), factors)


def draw_for(message_id: str) -> float:
    """A number in [0, 1) fixed by the message id: the message's place in a weighted split."""
    digest = hashlib.blake2b(message_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def shares(route: Route, factors: Mapping[str, float]) -> dict[str, float]:
    """Each provider's share of the first attempts of a weighted route, health factors applied
    (an unweighted route sends everything to its first provider)."""
    if route.weights is None:
        return {name: 1.0 if i == 0 else 0.0 for i, name in enumerate(route.providers)}
    effective = [
        w * factors.get(n, 1.0) for n, w in zip(route.providers, route.weights, strict=True)
    ]
    total = sum(effective)
    if total <= 0:  # every weighted provider's factor is 0: fall back to the configured weights
        effective, total = list(route.weights), sum(route.weights)
    return {name: e / total for name, e in zip(route.providers, effective, strict=True)}


def order_route(route: Route, draw: float, factors: Mapping[str, float]) -> tuple[str, ...]:
    """The order a message tries the providers of ``route``: the provider drawn by weight at
    ``draw`` first, then the others by share (largest first), then those of weight 0 in
    configured order."""
    if route.weights is None:
        return route.providers
    share = shares(route, factors)
    cumulative = 0.0
    first = next(name for name in route.providers if share[name] > 0)
    for name in route.providers:
        cumulative += share[name]
        if share[name] > 0 and draw < cumulative:
            first = name
            break
    else:  # rounding left the draw above the last cumulative share
        first = [name for name in route.providers if share[name] > 0][-1]
    rest = sorted(
        (name for name in route.providers if name != first),
        key=lambda name: (share[name] <= 0, -share[name], route.providers.index(name)),
    )
    return (first, *rest)
