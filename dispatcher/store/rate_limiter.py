"""A GCRA (generic cell rate algorithm) limiter in Redis that answers "go now" or "wait N ms".

One timestamp per key (the theoretical arrival time). Used for each API key's request rate and,
at the moment of sending, as each provider's last check. The arithmetic is the one admission
uses (``gcra_lib.lua``, shared by ``admit.lua`` and ``rate_limit.lua``), on a key of its own:
admission *reserves* each message's slot ahead on ``smsd:rate:<provider>``
(:mod:`dispatcher.store.gates`), which keeps messages spaced; this check counts the sends
themselves as they go, on ``smsd:rate:<provider>:sent``, so messages that come late to their
reserved slots do not go together. One key could not do both: a send checked against the key
that already holds its reservation would be counted twice.
"""

from __future__ import annotations

import redis

from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.lua_scripts import register_script

__all__ = ["Gcra"]


class Gcra:
    """Deny-mode GCRA limiters on one Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self._allow = register_script(client, "rate_limit")

    @translates_redis_errors
    def wait_ms(
        self, key: str, *, now_ms: int, per_second: float, burst: int, cost: int = 1
    ) -> int:
        """0 when ``cost`` units may go now under ``per_second`` with ``burst`` (and they are
        counted), else the milliseconds to wait."""
        interval_ms = 1000.0 / per_second
        return int(self._allow(keys=[key], args=[now_ms, f"{interval_ms:.6f}", burst, cost]))
