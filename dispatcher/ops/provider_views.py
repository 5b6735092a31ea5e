"""What ``smsdispatch providers`` shows: each provider's gates and each route's current shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dispatcher.config.settings import Settings
from dispatcher.core.delivery_health import DeliveryStats, delivery_factors
from dispatcher.core.provider_health import route_factors
from dispatcher.core.routing import shares
from dispatcher.store.connection import RedisClient
from dispatcher.store.delivery_windows import DeliveryWindows
from dispatcher.store.gates import ProviderGates

__all__ = ["delivery_lines", "provider_status"]


def provider_status(settings: Settings, client: RedisClient, *, now_ms: int) -> dict[str, Any]:
    """Providers (config, circuit, pause, rate backlog, recent window, delivery by destination
    country) and weighted routes (configured weight and the share in force after health
    factors, with the delivery factor per country), as JSON-ready data."""
    gates = ProviderGates(client, settings.providers)
    names = list(settings.providers)
    views = {view.name: view for view in gates.views(names, now_ms=now_ms)}
    window_s = settings.delivery_reports.window_s
    delivered = DeliveryWindows(client, window_ms=window_s * 1000).read(names, now_ms=now_ms)
    providers = []
    for name, cfg in settings.providers.items():
        entry = views[name].to_json()
        entry.update(
            kind=cfg.kind,
            enabled=cfg.enabled,
            rate_limit=cfg.rate_limit,
            rate_burst=cfg.burst if cfg.rate_limit else None,
            delivery_window_s=window_s,
            delivery={country: s.to_json() for country, s in delivered[name].items()},
        )
        providers.append(entry)
    enabled = {name for name, cfg in settings.providers.items() if cfg.enabled}
    routes = []
    for where, route in settings.routes.all_routes().items():
        live = route.only(enabled)
        factors = route_factors(
            live.providers,
            live.weights is not None,
            {name: view.window for name, view in views.items()},
            {name: cfg.circuit.min_calls for name, cfg in settings.providers.items()},
            adaptive=settings.routes.adaptive_weights,
        )
        share = shares(live, factors) if live.providers else {}
        by_country = _delivery_factors(
            live.providers if live.weights is not None else (), delivered, settings
        )
        routes.append(
            {
                "route": where,
                "weighted": route.weights is not None,
                "providers": [
                    {
                        "provider": name,
                        "weight": None if route.weights is None else route.weights[i],
                        "share": round(share.get(name, 0.0), 4),
                        "health_factor": round(factors.get(name, 1.0), 4),
                        "delivery_factors": {
                            country: round(found[name], 4)
                            for country, found in by_country.items()
                            if name in found
                        },
                    }
                    for i, name in enumerate(route.providers)
                ],
            }
        )
    return {"providers": providers, "routes": routes}


def _delivery_factors(
    providers: Sequence[str],
    delivered: Mapping[str, Mapping[str, DeliveryStats]],
    settings: Settings,
) -> dict[str, dict[str, float]]:
    """For each destination country with reports from any of ``providers`` (a weighted route's),
    the delivery factor each gets there (the share of a message to that country is cut by it)."""
    if not providers or not settings.routes.adaptive_weights:
        return {}
    countries = sorted({c for name in providers for c in delivered.get(name, {})})
    return {
        country: delivery_factors(
            {name: delivered.get(name, {}).get(country, DeliveryStats()) for name in providers},
            min_reports=settings.routes.delivery_min_reports,
        )
        for country in countries
    }


def delivery_lines(providers: Sequence[Mapping[str, Any]]) -> list[str]:
    """The delivery table of :func:`provider_status`'s providers: one row per provider and
    destination country with final reports in the window (none: no rows)."""
    rows = [
        (p["name"], country, found)
        for p in providers
        for country, found in p.get("delivery", {}).items()
    ]
    if not rows:
        return []
    window_min = providers[0]["delivery_window_s"] // 60
    row = "{:<12} {:>7} {:>9} {:>11} {:>8} {:>9} {:>9}"
    lines = [
        f"DELIVERY REPORTS, last {window_min} min",
        row.format("PROVIDER", "COUNTRY", "DELIVERED", "UNDELIVERED", "RATE", "P50 S", "P95 S"),
    ]
    for name, country, found in rows:
        rate = found["delivery_rate"]
        lines.append(
            row.format(
                name,
                f"+{country}" if country.isdigit() else country,
                found["delivered"],
                found["undelivered"],
                "-" if rate is None else f"{rate:.1%}",
                _seconds(found["report_p50_ms"]),
                _seconds(found["report_p95_ms"]),
            )
        )
    return lines


def _seconds(ms: int | None) -> str:
    return "-" if ms is None else f"{ms / 1000:.1f}"
