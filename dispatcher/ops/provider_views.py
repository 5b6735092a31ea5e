"""What ``smsdispatch providers`` shows: each provider's gates and each route's current shares."""

from __future__ import annotations

from typing import Any

from dispatcher.config.settings import Settings
from dispatcher.core.provider_health import route_factors
from dispatcher.core.routing import shares
from dispatcher.store.connection import RedisClient
from dispatcher.store.gates import ProviderGates

__all__ = ["provider_status"]


def provider_status(settings: Settings, client: RedisClient, *, now_ms: int) -> dict[str, Any]:
    """Providers (config, circuit, pause, rate backlog, recent window) and weighted routes
    (configured weight and the share in force after health factors), as JSON-ready data."""
    gates = ProviderGates(client, settings.providers)
    names = list(settings.providers)
    views = {view.name: view for view in gates.views(names, now_ms=now_ms)}
    providers = []
    for name, cfg in settings.providers.items():
        entry = views[name].to_json()
        entry.update(
            kind=cfg.kind,
            enabled=cfg.enabled,
            rate_limit=cfg.rate_limit,
            rate_burst=cfg.burst if cfg.rate_limit else None,
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
                    }
                    for i, name in enumerate(route.providers)
                ],
            }
        )
    return {"providers": providers, "routes": routes}
