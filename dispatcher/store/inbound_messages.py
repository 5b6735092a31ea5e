"""Inbound texts in Redis: a record a text (``smsd:in:<id>``, kept for messages.retention_s),
its text apart (``smsd:in:<id>:text``, kept for inbound.retention_s), an index by arrival
(``smsd:inbound``), and a marker by the provider's id so a text the provider posts again is
taken once. Recording, counting and queueing its callback are one script
(``record_inbound.lua``)."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from dispatcher.core.inbound_message import INBOUND_EVENT, InboundMessage
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.lua_scripts import register_script
from dispatcher.store.redis_keys import (
    CALLBACKS,
    INBOUND,
    METRICS,
    inbound_key,
    inbound_seen_key,
    inbound_text_key,
)

__all__ = [
    "INBOUND_CALLBACK_PREFIX",
    "InboundStore",
    "Recorded",
    "inbound_callback_member",
    "read_inbound",
]

# A callback member of an inbound text: "in:<id>|inbound" (record_inbound.lua writes it).
INBOUND_CALLBACK_PREFIX = "in:"


def inbound_callback_member(inbound_id: str) -> str:
    """The callback queue's member for an inbound text."""
    return f"{INBOUND_CALLBACK_PREFIX}{inbound_id}|{INBOUND_EVENT}"


@dataclass(frozen=True, slots=True)
class Recorded:
    """``new`` False: the provider posted this text before; ``inbound_id`` is the first's."""

    new: bool
    inbound_id: str


def read_inbound(client: redis.Redis, inbound_ids: list[str]) -> list[InboundMessage | None]:
    """The records of ``inbound_ids`` with their texts (while kept), in one round trip (None
    where a record is gone)."""
    with client.pipeline(transaction=False) as pipe:
        for inbound_id in inbound_ids:
            pipe.hgetall(inbound_key(inbound_id))
            pipe.get(inbound_text_key(inbound_id))
        rows = pipe.execute()
    return [
        InboundMessage.from_hash(raw, text) if raw else None
        for raw, text in zip(rows[::2], rows[1::2], strict=True)
    ]


class InboundStore:
    """Inbound texts on one Redis client."""

    def __init__(self, client: redis.Redis, *, retention_s: int, text_retention_s: int) -> None:
        self._redis = client
        self._retention_s = retention_s
        self._text_retention_s = min(text_retention_s, retention_s)
        self._record = register_script(client, "record_inbound")

    @translates_redis_errors
    def record(self, message: InboundMessage, *, forward: bool) -> Recorded:
        """Keep ``message`` once, count it, and with ``forward`` queue its callback."""
        fields: list[str] = []
        for name, value in message.to_hash().items():
            fields += [name, value]
        keys = [
            inbound_seen_key(message.provider, message.provider_message_id),
            inbound_key(message.id),
            inbound_text_key(message.id),
            INBOUND,
            METRICS,
            CALLBACKS,
        ]
        args: list[str | int] = [
            message.id,
            message.received_at_ms,
            self._retention_s,
            self._text_retention_s,
            message.text or "",
            message.provider,
            message.keyword or "text",
            "1" if forward else "",
            *fields,
        ]
        new, inbound_id = self._record(keys=keys, args=args)
        return Recorded(bool(int(new)), str(inbound_id))

    @translates_redis_errors
    def get_many(self, inbound_ids: list[str]) -> list[InboundMessage | None]:
        """The records of ``inbound_ids`` with their texts (while kept), in one round trip."""
        return read_inbound(self._redis, inbound_ids)

    @translates_redis_errors
    def latest(self, *, limit: int, offset: int = 0) -> list[InboundMessage]:
        """The latest inbound texts, newest first."""
        ids = [str(i) for i in self._redis.zrevrange(INBOUND, offset, offset + limit - 1)]
        return [m for m in self.get_many(ids) if m is not None]

    @translates_redis_errors
    def count(self) -> int:
        return int(self._redis.zcard(INBOUND))
