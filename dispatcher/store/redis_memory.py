"""How full Redis is, for ``/readyz`` and ``smsdispatch stats``.

At ``maxmemory`` under ``noeviction`` Redis refuses every write: new messages are refused at the
door (``EnqueueError``), and workers cannot record what they send until memory is freed. Under
an evicting policy it deletes keys instead, which may be message records: that is named too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dispatcher.store.connection import RedisClient, translates_redis_errors

__all__ = ["RedisMemory", "redis_memory"]

# Policies under which Redis deletes keys of its own choosing when it is full.
_EVICTING = ("allkeys-", "volatile-")


@dataclass(frozen=True)
class RedisMemory:
    used_bytes: int
    max_bytes: int  # 0: no limit
    policy: str

    @property
    def full(self) -> bool:
        return self.max_bytes > 0 and self.used_bytes >= self.max_bytes

    def problem(self) -> str | None:
        """What an operator must know, or None."""
        if self.full and self.policy == "noeviction":
            return (
                f"Redis is out of memory ({_mb(self.used_bytes)} of maxmemory "
                f"{_mb(self.max_bytes)}, noeviction): new messages are refused and sends cannot "
                "be recorded until memory is freed"
            )
        if self.max_bytes > 0 and self.policy.startswith(_EVICTING):
            return (
                f"Redis evicts keys when full (maxmemory-policy {self.policy}): message records "
                "can be lost; use noeviction"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "used_bytes": self.used_bytes,
            "max_bytes": self.max_bytes,
            "policy": self.policy,
            "full": self.full,
            "problem": self.problem(),
        }


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


@translates_redis_errors
def redis_memory(client: RedisClient) -> RedisMemory:
    """Redis's memory use, limit and policy (``INFO memory``: one round trip, a read)."""
    info: dict[str, Any] = client.info("memory")
    return RedisMemory(
        used_bytes=int(info["used_memory"]),
        max_bytes=int(info.get("maxmemory", 0)),
        policy=str(info.get("maxmemory_policy", "noeviction")),
    )
