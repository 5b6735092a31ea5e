"""A GCRA (generic cell rate algorithm) limiter in Redis that answers "go now" or "wait N ms".

One timestamp per key (the theoretical arrival time). Used for each API key's request rate and,
at the moment of sending, as each provider's last check: planned slots (see
:mod:`dispatcher.store.gates`) keep messages spaced, and this check keeps the sends themselves
within the limit when late messages would otherwise go together.
"""

from __future__ import annotations

import redis

__all__ = ["Gcra"]

# KEYS: the limiter. ARGV: now ms, emission interval ms, burst, cost. Returns 0 when the request
# may go (and counts it), else how many ms until it may.
_ALLOW = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local cost = tonumber(ARGV[4])
local burst = math.max(tonumber(ARGV[3]), cost)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + interval * cost
local allow_at = new_tat - interval * burst
if allow_at > now then return math.ceil(allow_at - now) end
redis.call('SET', KEYS[1], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1000)
return 0
"""


class Gcra:
    """Deny-mode GCRA limiters on one Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self._allow = client.register_script(_ALLOW)

    def wait_ms(
        self, key: str, *, now_ms: int, per_second: float, burst: int, cost: int = 1
    ) -> int:
        """0 when ``cost`` units may go now under ``per_second`` with ``burst`` (and they are
        counted), else the milliseconds to wait."""
        interval_ms = 1000.0 / per_second
        return int(self._allow(keys=[key], args=[now_ms, f"{interval_ms:.6f}", burst, cost]))
