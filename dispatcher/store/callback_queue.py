"""The queue of status callbacks to post (``smsd:callbacks``) and their tries.

A message reaching a state a callback is due for queues ``<message id>|<state>`` in the same script
that records the state (``finish_message``, ``apply_report``). Each worker's sender takes the due
ones here, pushing each one's due time ahead while it is being posted (a worker that dies mid-post
leaves it to the next), and settles each afterwards: posted, again later, or given up.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from dispatcher.core.message_record import MessageRecord
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.lua_scripts import register_script
from dispatcher.store.redis_keys import CALLBACK_TRIES, CALLBACKS, message_key

__all__ = ["CallbackQueue"]


class CallbackQueue:
    """Status callbacks waiting to be posted, on one Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._take = register_script(client, "take_callbacks")

    @translates_redis_errors
    def take_due(self, *, now_ms: int, count: int, lease_ms: int) -> list[str]:
        """Up to ``count`` due callbacks (``<message id>|<state>``), held for ``lease_ms``."""
        return [str(m) for m in self._take(keys=[CALLBACKS], args=[now_ms, count, lease_ms])]

    @translates_redis_errors
    def records(self, members: Sequence[str]) -> list[MessageRecord | None]:
        """The record of each callback's message, in one round trip (None where it is gone)."""
        pipe = self._redis.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(message_key(member.partition("|")[0]))
        return [MessageRecord.from_hash(raw) if raw else None for raw in pipe.execute()]

    @translates_redis_errors
    def count_failed_try(self, member: str) -> int:
        """One more failed post of ``member``; how many it has had."""
        return int(self._redis.hincrby(CALLBACK_TRIES, member, 1))

    @translates_redis_errors
    def settle(
        self,
        *,
        done: Sequence[str] = (),
        gave_up: Sequence[tuple[str, str]] = (),
        again: Sequence[tuple[str, int]] = (),
    ) -> None:
        """In one round trip: forget the callbacks ``done`` (posted, or their message gone), the
        ones given up ((member, message id): the message records ``callback_failed``), and put
        the others back due at their time ((member, due ms))."""
        pipe = self._redis.pipeline(transaction=False)
        for member in done:
            pipe.zrem(CALLBACKS, member)
            pipe.hdel(CALLBACK_TRIES, member)
        for member, message_id in gave_up:
            pipe.zrem(CALLBACKS, member)
            pipe.hdel(CALLBACK_TRIES, member)
            pipe.hset(message_key(message_id), "callback_failed", "1")
        for member, due_ms in again:
            pipe.zadd(CALLBACKS, {member: due_ms})
        pipe.execute()
