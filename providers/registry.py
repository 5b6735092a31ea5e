"""Adapter kinds by name: the built-in ones and those registered by other distributions.

A third-party adapter registers a factory in the ``sms_dispatch.providers`` entry-point group::

    [project.entry-points."sms_dispatch.providers"]
    acme = "acme_sms:build"

where ``build(name: str, options: Mapping[str, Any]) -> Provider``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from providers.adapters.cecula import CeculaProvider, CeculaSettings
from providers.adapters.gosms import GoSmsProvider, GoSmsSettings
from providers.adapters.sinch import REGIONS, SinchProvider, SinchSettings
from providers.adapters.twilio import TwilioProvider, TwilioSettings
from providers.adapters.vonage import VonageProvider, VonageSettings
from providers.adapters.yellowpush import YellowPushProvider, YellowPushSettings
from providers.base import Provider

__all__ = ["ENTRY_POINT_GROUP", "ProviderConfigError", "build_provider", "known_kinds"]

ENTRY_POINT_GROUP = "sms_dispatch.providers"

ProviderFactory = Callable[[str, Mapping[str, Any]], Provider]


class ProviderConfigError(ValueError):
    """A provider entry that cannot work: names the provider and the setting at fault."""

    def __init__(self, provider: str, setting: str, reason: str, *, secret: bool = False) -> None:
        self.provider = provider
        self.setting = setting
        self.reason = reason
        self.secret = secret
        super().__init__(f"provider {provider!r}: setting {setting!r} {reason}")


def _required(name: str, options: Mapping[str, Any], setting: str, *, secret: bool = False) -> str:
    value = options.get(setting)
    if not isinstance(value, str) or not value.strip():
        raise ProviderConfigError(name, setting, "is missing", secret=secret)
    return value.strip()


def _optional(options: Mapping[str, Any], setting: str) -> str | None:
    value = options.get(setting)
    return str(value) if value not in (None, "") else None


def _timeout_s(options: Mapping[str, Any]) -> float:
    return float(options.get("timeout_s", 10.0))


def _sinch(name: str, options: Mapping[str, Any]) -> Provider:
    region = str(options.get("region", "us"))
    base_url = options.get("base_url") or REGIONS.get(region)
    if not base_url:
        raise ProviderConfigError(name, "region", f"must be one of {sorted(REGIONS)}")
    return SinchProvider(
        SinchSettings(
            name=name,
            service_plan_id=_required(name, options, "service_plan_id"),
            api_token=_required(name, options, "api_token", secret=True),
            base_url=str(base_url),
            sender=_optional(options, "sender"),
            timeout_s=_timeout_s(options),
            callback_url=_optional(options, "callback_url"),
            webhook_secret=_optional(options, "webhook_secret"),
        )
    )


def _gosms(name: str, options: Mapping[str, Any]) -> Provider:
    return GoSmsProvider(
        GoSmsSettings(
            name=name,
            api_token=_required(name, options, "api_token", secret=True),
            base_url=_optional(options, "base_url") or "https://api.gosms.ru",
            device_id=_optional(options, "device_id"),
            timeout_s=_timeout_s(options),
        )
    )


def _cecula(name: str, options: Mapping[str, Any]) -> Provider:
    return CeculaProvider(
        CeculaSettings(
            name=name,
            api_key=_required(name, options, "api_key", secret=True),
            base_url=_optional(options, "base_url") or "https://app.cecula.com",
            sender=_required(name, options, "sender"),
            timeout_s=_timeout_s(options),
        )
    )


def _yellowpush(name: str, options: Mapping[str, Any]) -> Provider:
    return YellowPushProvider(
        YellowPushSettings(
            name=name,
            username=_required(name, options, "username"),
            password=_required(name, options, "password", secret=True),
            base_url=_optional(options, "base_url") or "https://api.identidadsms.net/rest",
            sender=_optional(options, "sender"),
            timeout_s=_timeout_s(options),
        )
    )


def _twilio(name: str, options: Mapping[str, Any]) -> Provider:
    sender = _optional(options, "sender")
    service = _optional(options, "messaging_service_sid")
    if not sender and not service:
        raise ProviderConfigError(name, "sender", "is missing (or set messaging_service_sid)")
    return TwilioProvider(
        TwilioSettings(
            name=name,
            account_sid=_required(name, options, "account_sid"),
            auth_token=_required(name, options, "auth_token", secret=True),
            base_url=_optional(options, "base_url") or "https://api.twilio.com",
            sender=sender,
            messaging_service_sid=service,
            status_callback=_optional(options, "status_callback"),
            inbound_url=_optional(options, "inbound_url"),
            timeout_s=_timeout_s(options),
        )
    )


def _vonage(name: str, options: Mapping[str, Any]) -> Provider:
    return VonageProvider(
        VonageSettings(
            name=name,
            api_key=_required(name, options, "api_key", secret=True),
            api_secret=_required(name, options, "api_secret", secret=True),
            base_url=_optional(options, "base_url") or "https://rest.nexmo.com",
            sender=_required(name, options, "sender"),
            timeout_s=_timeout_s(options),
        )
    )


_BUILTIN: dict[str, ProviderFactory] = {
    "sinch": _sinch,
    "gosms": _gosms,
    "cecula": _cecula,
    "yellowpush": _yellowpush,
    "twilio": _twilio,
    "vonage": _vonage,
}


def _factories() -> dict[str, ProviderFactory]:
    found: dict[str, ProviderFactory] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        found[entry.name] = entry.load()
    found.update(_BUILTIN)  # a plug-in cannot shadow a built-in kind
    return found


def known_kinds() -> list[str]:
    """Every adapter kind that can be named in config."""
    return sorted(_factories())


def build_provider(name: str, kind: str, options: Mapping[str, Any]) -> Provider:
    """Build the adapter for config entry ``name`` of adapter ``kind``."""
    factories = _factories()
    factory = factories.get(kind)
    if factory is None:
        raise ProviderConfigError(name, "kind", f"is {kind!r}, not one of {sorted(factories)}")
    return factory(name, options)
