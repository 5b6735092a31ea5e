"""Configured providers as the provider simulator needs them, and pointed at it.

The local stack (``smsdispatch dev``) and the tests run every configured provider against the
simulator: each provider's secrets are made up where the environment has none, its ``base_url``
keeps its path but moves to the simulator's address, and the simulator accepts exactly those
credentials.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from urllib.parse import urlsplit

from dispatcher.config.settings import SECRET_SETTINGS, Settings, env_var_for
from dispatcher.errors import ConfigError
from providers.simulator.app import PERSONALITIES

__all__ = ["report_wiring", "simulated_providers", "simulator_accounts", "simulator_env"]


def simulated_providers(settings: Settings) -> dict[str, str]:
    """Provider name → kind, for the enabled providers the simulator has a personality for
    (the first of each kind: the simulator serves one account per kind)."""
    chosen: dict[str, str] = {}
    for name, provider in settings.providers.items():
        usable = provider.enabled and provider.kind in PERSONALITIES
        if usable and provider.kind not in chosen.values():
            chosen[name] = provider.kind
    return chosen


def simulator_env(
    settings: Settings,
    simulator_url: str,
    make_secret: Callable[[str], str],
    environ: Mapping[str, str] = os.environ,
) -> dict[str, str]:
    """Environment that points the simulated providers at ``simulator_url``, with their secrets
    (``make_secret(env_var)`` where ``environ`` has none)."""
    env: dict[str, str] = {}
    for name, kind in simulated_providers(settings).items():
        for setting in PERSONALITIES[kind].credential_settings:
            if setting in SECRET_SETTINGS:
                var = env_var_for("providers", name, setting)
                env[var] = environ.get(var) or make_secret(var)
        configured = str(settings.providers[name].options().get("base_url") or "")
        path = urlsplit(configured).path.rstrip("/") if configured else ""
        env[env_var_for("providers", name, "base_url")] = simulator_url.rstrip("/") + path
    return env


def simulator_accounts(settings: Settings) -> dict[str, dict[str, str]]:
    """Provider kind → the credentials its personality accepts, from the configured providers."""
    accounts: dict[str, dict[str, str]] = {}
    for name, kind in simulated_providers(settings).items():
        options = settings.providers[name].options()
        credentials: dict[str, str] = {}
        for setting in PERSONALITIES[kind].credential_settings:
            value = options.get(setting)
            if not isinstance(value, str) or not value:
                raise ConfigError(
                    f"providers.{name}.{setting}",
                    "is needed by the simulator",
                    env_var=env_var_for("providers", name, setting),
                )
            credentials[setting] = value
        if isinstance(options.get("webhook_secret"), str):
            credentials["webhook_secret"] = options["webhook_secret"]
        accounts[kind] = credentials
    return accounts


def report_wiring(
    settings: Settings, api_url: str, token: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Where each simulated provider posts delivery reports, so they reach the API: environment
    for the providers whose send names the URL (Sinch ``callback_url``, Twilio
    ``status_callback``), and kind → URL for the ones whose URL is set in their panel (the
    simulator's ``/_sim/report-urls``). A provider the workers ask (GoSMS, YellowPush with
    ``poll_reports``) posts none."""
    base = api_url.rstrip("/") + "/v1/delivery-reports"
    env: dict[str, str] = {}
    panel: dict[str, str] = {}
    for name, kind in simulated_providers(settings).items():
        tokened = f"{base}/{name}?token={token}"
        if kind == "sinch":
            env[env_var_for("providers", name, "callback_url")] = tokened
        elif kind == "twilio":  # signed with the auth token
            env[env_var_for("providers", name, "status_callback")] = f"{base}/{name}"
        elif PERSONALITIES[kind].reports_when_asked and settings.providers[name].poll_reports:
            continue  # the workers ask for its reports, as they must of the real provider
        else:
            panel[kind] = tokened
    return env, panel
