"""Erasing one phone number from Redis: every message record (with its attempts, its dead
letter, its idempotency key and provider-id index, its place in every queue and index), every
inbound text it sent (record, text, provider-id marker) go. What is left of the number is its
opt-out entry, named by a digest (:meth:`dispatcher.store.opt_outs.OptOutList.erase_number`).

The records are found by scanning their keys, a page at a time, so an erasure costs one pass over
the keyspace: an operator's request, not a send path's.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from dispatcher.core.states import CALLBACK_STATES
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.inbound_messages import inbound_callback_member
from dispatcher.store.redis_keys import (
    AWAITING_REPORTS,
    BODY_DROPS,
    CALLBACK_TRIES,
    CALLBACKS,
    DEAD_LETTERS,
    DELAY_QUEUE,
    INBOUND,
    MESSAGE_PREFIX,
    PENDING,
    PREFIX,
    campaign_key,
    idempotency_key,
    inbound_key,
    inbound_seen_key,
    inbound_text_key,
    poll_queue_key,
    provider_id_key,
)

__all__ = ["Erased", "erase_records_of"]

_PAGE = 1_000
_MESSAGE_FIELDS = (
    "to",
    "idempotency_key",
    "idempotency_scope",
    "provider",
    "provider_message_id",
    "campaign",
)
_INBOUND_PREFIX = f"{PREFIX}:in:"


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure deleted."""

    messages: int = 0
    dead_letters: int = 0
    idempotency_keys: int = 0
    inbound: int = 0


def _scan(client: redis.Redis, pattern: str) -> list[str]:
    return [str(k) for k in client.scan_iter(match=pattern, count=_PAGE)]


@translates_redis_errors
def erase_records_of(client: redis.Redis, number: str) -> Erased:
    """Delete every message record and inbound text of ``number`` (E.164) and what points at
    them; what was deleted."""
    messages, dead, keys = _erase_messages(client, number)
    return Erased(messages, dead, keys, _erase_inbound(client, number))


def _erase_messages(client: redis.Redis, number: str) -> tuple[int, int, int]:
    """The message records of ``number``: (records, of them dead letters, idempotency keys)."""
    found = [k for k in _scan(client, f"{MESSAGE_PREFIX}*") if k.count(":") == 2]
    erased = dead = idem = 0
    for start in range(0, len(found), _PAGE):
        page = found[start : start + _PAGE]
        with client.pipeline(transaction=False) as pipe:
            for key in page:
                pipe.hmget(key, _MESSAGE_FIELDS)
                pipe.zscore(DEAD_LETTERS, key[len(MESSAGE_PREFIX) :])
            rows = pipe.execute()
        mine = [
            (key, fields, score)
            for key, fields, score in zip(page, rows[::2], rows[1::2], strict=True)
            if fields[0] == number
        ]
        if not mine:
            continue
        with client.pipeline(transaction=True) as pipe:
            for key, (_, idem_key, scope, provider, provider_id, campaign), _ in mine:
                _delete_message(pipe, key, idem_key, scope, provider, provider_id)
                if campaign:
                    pipe.srem(campaign_key(campaign), key[len(MESSAGE_PREFIX) :])
            pipe.execute()
        erased += len(mine)
        dead += sum(1 for *_, score in mine if score is not None)
        idem += sum(1 for _, fields, _ in mine if fields[1])
    return erased, dead, idem


def _delete_message(  # noqa: PLR0917 - one record's fields
    pipe: redis.client.Pipeline,
    key: str,
    idem_key: str | None,
    scope: str | None,
    provider: str | None,
    provider_id: str | None,
) -> None:
    message_id = key[len(MESSAGE_PREFIX) :]
    pipe.delete(key)
    for index in (PENDING, DELAY_QUEUE, AWAITING_REPORTS, BODY_DROPS, DEAD_LETTERS):
        pipe.zrem(index, message_id)
    members = [f"{message_id}|{state.value}" for state in CALLBACK_STATES]
    pipe.zrem(CALLBACKS, *members)
    pipe.hdel(CALLBACK_TRIES, *members)
    if idem_key:
        pipe.delete(idempotency_key(idem_key, scope or None))
    if provider and provider_id:
        pipe.delete(provider_id_key(provider, provider_id))
        pipe.zrem(poll_queue_key(provider), message_id)


def _erase_inbound(client: redis.Redis, number: str) -> int:
    """The inbound texts ``number`` sent: their records, texts, markers and callbacks."""
    found = [
        k
        for k in _scan(client, f"{_INBOUND_PREFIX}*")
        if k.count(":") == 2 and not k.startswith(f"{_INBOUND_PREFIX}seen")
    ]
    erased = 0
    for start in range(0, len(found), _PAGE):
        page = found[start : start + _PAGE]
        with client.pipeline(transaction=False) as pipe:
            for key in page:
                pipe.hmget(key, ("from", "provider", "provider_message_id"))
            rows = pipe.execute()
        mine = [(k, row) for k, row in zip(page, rows, strict=True) if row[0] == number]
        if not mine:
            continue
        with client.pipeline(transaction=True) as pipe:
            for key, (_, provider, provider_id) in mine:
                inbound_id = key[len(_INBOUND_PREFIX) :]
                pipe.delete(inbound_key(inbound_id), inbound_text_key(inbound_id))
                if provider and provider_id:
                    pipe.delete(inbound_seen_key(provider, provider_id))
                pipe.zrem(INBOUND, inbound_id)
                member = inbound_callback_member(inbound_id)
                pipe.zrem(CALLBACKS, member)
                pipe.hdel(CALLBACK_TRIES, member)
            pipe.execute()
        erased += len(mine)
    return erased
