"""The queue of status callbacks to post (``smsd:callbacks``) and their tries.

A message reaching a state a callback is due for queues ``<message id>|<state>`` in the same script
that records the state (``finish_message``, ``apply_report``); an inbound text to forward queues
``in:<inbound id>|inbound`` (``record_inbound``). Each worker's sender takes the due
ones here, pushing each one's due time ahead while it is being posted (a worker that dies mid-post
leaves it to the next), and settles each afterwards: posted, again later, or given up.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis

from dispatcher.core.inbound_message import InboundMessage
from dispatcher.core.message_record import MessageRecord
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.inbound_messages import INBOUND_CALLBACK_PREFIX, read_inbound
from dispatcher.store.lua_scripts import register_script
from dispatcher.store.redis_keys import CALLBACK_TRIES, CALLBACKS, inbound_key, message_key

__all__ = ["CallbackQueue"]


def _inbound_id(member: str) -> str:
    """The inbound text's id of a callback member ("in:<id>|inbound"), or "" for a message's."""
    if not member.startswith(INBOUND_CALLBACK_PREFIX):
        return ""
    return member[len(INBOUND_CALLBACK_PREFIX) :].partition("|")[0]


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
    def records(self, members: Sequence[str]) -> list[MessageRecord | InboundMessage | None]:
        """The record of each callback's message or inbound text (None where it is gone)."""
        inbound_ids = [_inbound_id(m) for m in members]
        wanted = [i for i in inbound_ids if i]
        texts = iter(read_inbound(self._redis, wanted) if wanted else [])
        pipe = self._redis.pipeline(transaction=False)
        for member, inbound_id in zip(members, inbound_ids, strict=True):
            if not inbound_id:
                pipe.hgetall(message_key(member.partition("|")[0]))
        rows = iter(pipe.execute())
        found: list[MessageRecord | InboundMessage | None] = []
        for inbound_id in inbound_ids:
            if inbound_id:
                found.append(next(texts))
            else:
                raw = next(rows)
                found.append(MessageRecord.from_hash(raw) if raw else None)
        return found

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
        for member, record_id in gave_up:
            pipe.zrem(CALLBACKS, member)
            pipe.hdel(CALLBACK_TRIES, member)
            key = inbound_key(record_id) if _inbound_id(member) else message_key(record_id)
            pipe.hset(key, "callback_failed", "1")
        for member, due_ms in again:
            pipe.zadd(CALLBACKS, {member: due_ms})
        pipe.execute()
