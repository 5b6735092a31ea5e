"""The status lookups of providers that report only when asked (GoSMS, YellowPush): one sorted
set per provider (``smsd:polls:<provider>``) of its accepted messages, scored by when each is
next looked up. The finish of an accepted send adds the message; every worker's poller takes the
due ones in one script (so no message is looked up by two workers at once), within the
provider's lookup rate limit shared by all; a final report, looked up or pushed, removes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import redis

from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.lua_scripts import register_script
from dispatcher.store.redis_keys import MESSAGE_PREFIX, METRICS, poll_queue_key, poll_rate_key

__all__ = ["DueLookup", "ReportPolls"]


@dataclass(frozen=True, slots=True)
class DueLookup:
    """A message whose status is to be looked up now."""

    message_id: str
    provider_message_id: str
    lookups_before: int  # how many lookups of it were made before this one


class ReportPolls:
    """The status lookups waiting, taken and put back, on one Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._take = register_script(client, "take_polls")

    @translates_redis_errors
    def take_due(
        self,
        provider: str,
        *,
        now_ms: int,
        most: int,
        lease_ms: int,
        per_second: float,
        burst: int,
    ) -> list[DueLookup]:
        """Up to ``most`` due lookups of ``provider``, as many as its lookup rate limit lets go
        now (counted): each is held for ``lease_ms`` (then taken again, if it was not put back)."""
        found = self._take(
            keys=[poll_queue_key(provider), poll_rate_key(provider)],
            args=[now_ms, most, lease_ms, f"{1000.0 / per_second:.6f}", burst, MESSAGE_PREFIX],
        )
        return [
            DueLookup(str(found[i]), str(found[i + 1]), int(found[i + 2]))
            for i in range(0, len(found), 3)
        ]

    @translates_redis_errors
    def put_back(
        self, provider: str, next_at_ms: Mapping[str, int], outcomes: Mapping[str, int]
    ) -> None:
        """Look each message up again at its time (unless a final report removed it meanwhile),
        and count the lookups made by ``outcomes`` (delivered, undelivered, pending, failed)."""
        with self._redis.pipeline(transaction=False) as pipe:
            if next_at_ms:
                pipe.zadd(poll_queue_key(provider), dict(next_at_ms), xx=True)
            for outcome, count in outcomes.items():
                pipe.hincrby(METRICS, f"polls|{provider}|{outcome}", count)
            pipe.execute()

    @translates_redis_errors
    def waiting(self, provider: str) -> int:
        """How many of ``provider``'s messages wait for a status lookup."""
        return int(self._redis.zcard(poll_queue_key(provider)))
