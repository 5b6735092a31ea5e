"""API keys: who is calling, what they may do, and how fast.

Keys are kept as SHA-256 digests (``[api.keys.NAME] sha256 = ...``), so the config file holds no
secret; ``SMSD_API__API_KEYS`` adds plain keys from the environment, each allowed to send and
operate. A presented key is hashed and compared in constant time against every known digest.
Each key has a request rate limit in Redis (GCRA), shared by every API process.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from dispatcher.config.settings import ApiKeySettings, ApiScope, ApiSettings
from dispatcher.core.countries import CountryRules
from dispatcher.core.key_rules import KeyRules
from dispatcher.store.connection import RedisClient
from dispatcher.store.request_rate import ApiKeyRates

__all__ = ["ApiClient", "KeyRing", "RequestLimiter", "key_digest", "new_api_key"]


def key_digest(key: str) -> str:
    """The hex SHA-256 of an API key, as ``[api.keys.NAME] sha256`` holds it."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh random key and its digest."""
    key = "smsd_" + secrets.token_urlsafe(32)
    return key, key_digest(key)


@dataclass(frozen=True, slots=True)
class ApiClient:
    """The holder of one key."""

    name: str
    scopes: tuple[ApiScope, ...]
    rate_limit: float
    rate_burst: int
    # Its own countries and spend caps, where it has them (KeyRules' None: the deployment's).
    rules: KeyRules | None = None

    def may(self, scope: ApiScope) -> bool:
        return scope in self.scopes


class KeyRing:
    """Every key the API accepts."""

    def __init__(self, settings: ApiSettings, countries: CountryRules | None = None) -> None:
        """``countries``: the deployment's (``[guard]``), which a key's own lists override."""
        countries = countries or CountryRules()
        entries: list[tuple[bytes, ApiClient]] = []
        for name, cfg in settings.keys.items():
            entries.append((bytes.fromhex(cfg.sha256), _client(name, cfg, countries)))
        defaults = ApiKeySettings(sha256="0" * 64)
        plain = [k.strip() for k in settings.api_keys.split(",") if k.strip()]
        for index, key in enumerate(plain, start=1):
            client = ApiClient(
                f"env-{index}",
                ("send", "operate"),
                defaults.rate_limit,
                defaults.rate_burst,
                KeyRules(f"env-{index}"),
            )
            entries.append((hashlib.sha256(key.encode()).digest(), client))
        self._entries = tuple(entries)

    def __len__(self) -> int:
        return len(self._entries)

    def identify(self, presented: str) -> ApiClient | None:
        """The client whose key this is, comparing against every key so timing tells nothing."""
        digest = hashlib.sha256(presented.encode()).digest()
        found: ApiClient | None = None
        for known, client in self._entries:
            if hmac.compare_digest(digest, known):
                found = client
        return found


def _client(name: str, cfg: ApiKeySettings, countries: CountryRules) -> ApiClient:
    own = None
    if cfg.allowed_countries is not None or cfg.denied_countries is not None:
        own = countries.overridden(cfg.allowed_countries, cfg.denied_countries)
    rules = KeyRules(name, own, *cfg.spend_micros())
    return ApiClient(name, cfg.scopes, cfg.rate_limit, cfg.rate_burst, rules)


class RequestLimiter:
    """Each API key's request rate, counted in Redis and shared by every API process."""

    def __init__(self, client: RedisClient) -> None:
        self._rates = ApiKeyRates(client)

    def wait_ms(self, api_client: ApiClient, *, now_ms: int) -> int:
        """0 when the request may go now, else the milliseconds to wait (for Retry-After)."""
        return self._rates.wait_ms(
            api_client.name,
            now_ms=now_ms,
            per_second=api_client.rate_limit,
            burst=api_client.rate_burst,
        )
