"""The provider adapters of the configured providers, built once per process (worker or API)."""

from __future__ import annotations

from dispatcher.config.settings import Settings, env_var_for
from dispatcher.errors import ConfigError
from dispatcher.logs import register_secrets
from providers.base import Provider
from providers.registry import ProviderConfigError, build_provider

__all__ = ["build_providers"]


def build_providers(settings: Settings) -> dict[str, Provider]:
    """An adapter for every enabled provider in config; a broken entry raises ConfigError."""
    built: dict[str, Provider] = {}
    for name, entry in settings.providers.items():
        if not entry.enabled:
            continue
        try:
            built[name] = build_provider(name, entry.kind, entry.options())
        except ProviderConfigError as exc:
            raise ConfigError(
                f"providers.{name}.{exc.setting}",
                exc.reason,
                env_var=env_var_for("providers", name, exc.setting),
            ) from exc
        register_secrets(built[name].redacted_secrets())
    if not built:
        raise ConfigError("providers", "no enabled provider is configured")
    return built
