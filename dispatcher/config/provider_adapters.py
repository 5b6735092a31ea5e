"""The provider adapters of the configured providers, built once per process (worker or API)."""

from __future__ import annotations

from dispatcher.config.settings import Settings, env_var_for
from dispatcher.errors import ConfigError
from dispatcher.logs import register_secrets
from providers.base import Provider
from providers.registry import ProviderConfigError, build_provider

__all__ = ["build_providers"]

# What every adapter must have (providers.base.Provider), checked once when it is built so an
# adapter of another distribution that lacks a part is refused at start, naming it.
_PROVIDER_MEMBERS = (
    "name",
    "timeout_s",
    "counts_segments",
    "reports_carry_reference",
    "build_send",
    "read_send_answer",
    "read_delivery_report",
    "redacted_secrets",
)


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
        missing = [m for m in _PROVIDER_MEMBERS if not hasattr(built[name], m)]
        if missing:
            raise ConfigError(
                f"providers.{name}.kind",
                f"names the adapter {entry.kind!r}, which lacks {', '.join(missing)} "
                "(see providers.base.Provider)",
            )
        register_secrets(built[name].redacted_secrets())
    if not built:
        raise ConfigError("providers", "no enabled provider is configured")
    return built
