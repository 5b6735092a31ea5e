"""Each API key's request rate, counted in Redis (GCRA), shared by every API process."""

from __future__ import annotations

import redis

from dispatcher.store.rate_limiter import Gcra
from dispatcher.store.redis_keys import api_rate_key

__all__ = ["ApiKeyRates"]


class ApiKeyRates:
    """The request limiters of the API keys, on one Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self._gcra = Gcra(client)

    def wait_ms(self, key_name: str, *, now_ms: int, per_second: float, burst: int) -> int:
        """0 when a request of key ``key_name`` may go now (it is counted), else the
        milliseconds to wait (for Retry-After)."""
        return self._gcra.wait_ms(
            api_rate_key(key_name), now_ms=now_ms, per_second=per_second, burst=burst
        )
