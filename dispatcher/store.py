"""The status store: message records, their attempts and send leases, in Redis.

Each state change that must not race is one Lua script (one round trip, atomic):

- ``create``: record the message (and claim its idempotency key) before its job is published;
- ``claim``: take the send lease of a message that is still to be sent;
- ``finish``: append the attempt, move the state and release the lease, while the lease is ours.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import redis

from dispatcher.keys import (
    AWAITING_SENDER,
    CALLBACKS,
    DEAD_LETTERS,
    DELAY_QUEUE,
    IN_FLIGHT,
    METRICS,
    attempts_key,
    idempotency_key,
    lease_key,
    message_key,
    provider_id_key,
)
from dispatcher.records import Attempt, MessageRecord
from dispatcher.states import NOT_TO_BE_SENT, MessageState

__all__ = ["Claim", "CreateResult", "MessageStore", "connect_redis"]

# KEYS: message, awaiting-sender index, [idempotency key]. ARGV: "<id>|<digest>", idempotency ttl s,
# record ttl s, now ms, message id, record fields...
_CREATE = """
if #KEYS == 3 then
  local existing = redis.call('GET', KEYS[3])
  if existing then return {0, existing} end
  redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[2])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
return {1, ARGV[1]}
"""

_NOT_TO_BE_SENT_LUA = "{" + ", ".join(f"['{s.value}'] = true" for s in NOT_TO_BE_SENT) + "}"

# KEYS: message, lease, delay queue, in flight, awaiting-sender index. ARGV: token, lease ms,
# now ms, message id.
_CLAIM = f"""
redis.call('ZREM', KEYS[5], ARGV[4])
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return {{'missing'}} end
local done = {_NOT_TO_BE_SENT_LUA}
if done[state] then return {{'done', state}} end
if state == 'retry_scheduled' then
  local due = tonumber(redis.call('HGET', KEYS[1], 'next_attempt_at_ms') or '0')
  if due > tonumber(ARGV[3]) then return {{'not_due', state}} end
end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {{'busy', state}} end
if state == 'retry_scheduled' then redis.call('ZREM', KEYS[3], ARGV[4]) end
redis.call('ZADD', KEYS[4], tonumber(ARGV[3]) + tonumber(ARGV[2]), ARGV[4])
redis.call('HSET', KEYS[1], 'state', 'sending', 'updated_at_ms', ARGV[3])
return {{'claimed', state, redis.call('HGETALL', KEYS[1])}}
"""

# A message reached a state a callback is due for (accepted, delivered, ...): count it for
# /metrics and, when it has a callback_url, queue one status callback ("<id>|<state>", once).
_REACHED = """
local function reached(message, metrics, callbacks, id, state, now)
  redis.call('HINCRBY', metrics, 'messages|' .. state, 1)
  if redis.call('HEXISTS', message, 'callback_url') == 1 then
    redis.call('ZADD', callbacks, 'NX', now, id .. '|' .. state)
  end
end
"""

# KEYS: message, lease, attempts, delay queue, dead letters, in flight, provider-id index,
#       status callbacks, metrics.
# ARGV: token, attempt JSON or '', ttl s, action (none|retry|dead_letter), score ms, message id,
#       '1' to index the provider's message id, the state reached (callback, metrics) or '',
#       now ms,
#       then field/value pairs for the message hash.
_FINISH = (
    _REACHED
    + """
local holder = redis.call('GET', KEYS[2])
if ARGV[2] ~= '' then
  redis.call('RPUSH', KEYS[3], ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'attempt_count', 1)
  if not redis.call('ZSCORE', KEYS[5], ARGV[6]) then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
end
if holder and holder ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 10))
if ARGV[7] == '1' then redis.call('SET', KEYS[7], ARGV[6], 'EX', ARGV[3]) end
if ARGV[8] ~= '' then reached(KEYS[1], KEYS[9], KEYS[8], ARGV[6], ARGV[8], ARGV[9]) end
if ARGV[4] == 'dead_letter' then
  redis.call('ZADD', KEYS[5], ARGV[5], ARGV[6])
  redis.call('PERSIST', KEYS[1])
  redis.call('PERSIST', KEYS[3])
else
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('EXPIRE', KEYS[3], ARGV[3])
  if ARGV[4] == 'retry' then
    redis.call('HINCRBY', KEYS[1], 'retry_seq', 1)
    redis.call('ZADD', KEYS[4], ARGV[5], ARGV[6])
  end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[6], ARGV[6])
return 1
"""
)

# KEYS: message, status callbacks, metrics. ARGV: state (delivered|undelivered|pending), the
# provider's status word, reason, now ms, message id. Moves an accepted message to its reported
# final state (the first final report wins; a repeat changes nothing; a dead letter keeps its
# state but shows the report). Returns applied, same, final (another final state is kept),
# pending, missing, or not_accepted (the send is not recorded as accepted yet).
_APPLY_REPORT = (
    _REACHED
    + """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if state == ARGV[1] then return 'same' end
if state == 'delivered' or state == 'undelivered' then return 'final' end
if state == 'failed' or state == 'expired' then
  -- A dead letter whose send got through after all (an ambiguous attempt): keep what the
  -- provider says for the operator to see; the state stays.
  redis.call('HSET', KEYS[1], 'report_status', ARGV[2], 'report_reason', ARGV[3],
    'reported_at_ms', ARGV[4])
  return 'final'
end
if state ~= 'accepted' then return 'not_accepted' end
redis.call('HSET', KEYS[1], 'report_status', ARGV[2], 'report_reason', ARGV[3],
  'reported_at_ms', ARGV[4])
if ARGV[1] == 'pending' then return 'pending' end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'updated_at_ms', ARGV[4])
reached(KEYS[1], KEYS[3], KEYS[2], ARGV[5], ARGV[1], ARGV[4])
return 'applied'
"""
)

# KEYS: message, attempts, dead letters. ARGV: message id, replacement id, ttl s.
_TAKE_FOR_REPLAY = """
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'replayed_as', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: message, attempts, dead letters. ARGV: message id, score ms.
_RETURN_TO_DEAD_LETTERS = """
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'replayed_as')
redis.call('PERSIST', KEYS[1])
redis.call('PERSIST', KEYS[2])
return 1
"""

# KEYS: message, attempts, dead letters. ARGV: message id.
_PURGE = """
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"""

# KEYS: message, awaiting-sender index, [idempotency key]. ARGV: "<id>|<digest>", message id.
_DISCARD = """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[2])
if #KEYS == 3 and redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
"""


def connect_redis(url: str) -> redis.Redis:
    """A client for ``url`` (``redis://``, ``rediss://``, ``unix://``); connects on first use."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
        retry_on_timeout=True,
    )


def fingerprint_digest(fingerprint: str) -> str:
    return hashlib.sha256(fingerprint.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CreateResult:
    """``created`` False means the idempotency key was known: ``message_id`` is the first one's."""

    created: bool
    message_id: str
    same_content: bool = True


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of trying to take a message's send lease."""

    status: Literal["claimed", "done", "busy", "not_due", "missing"]
    previous_state: MessageState | None = None
    record: MessageRecord | None = None
    token: str = ""


class MessageStore:
    """Message records in Redis. Thread-safe: redis-py's connection pool is."""

    def __init__(self, client: redis.Redis, *, retention_s: int) -> None:
        self._redis = client
        self._retention_s = retention_s
        self._create = client.register_script(_CREATE)
        self._claim = client.register_script(_CLAIM)
        self._finish = client.register_script(_FINISH)
        self._discard = client.register_script(_DISCARD)
        self._take_for_replay = client.register_script(_TAKE_FOR_REPLAY)
        self._return_to_dead_letters = client.register_script(_RETURN_TO_DEAD_LETTERS)
        self._purge = client.register_script(_PURGE)
        self._apply_report = client.register_script(_APPLY_REPORT)

    @property
    def redis(self) -> redis.Redis:
        return self._redis

    def _ttl_s(self, record_valid_until_ms: int, now_ms: int) -> int:
        return max(record_valid_until_ms - now_ms, 0) // 1000 + self._retention_s

    def create(self, record: MessageRecord, *, idempotency_ttl_s: int, now_ms: int) -> CreateResult:
        """Record a new message (state ``queued``), claiming its idempotency key if it has one."""
        keys = [message_key(record.id), AWAITING_SENDER]
        digest = fingerprint_digest(record.fingerprint)
        if record.idempotency_key is not None:
            keys.append(idempotency_key(record.idempotency_key, record.idempotency_scope))
        fields: list[str] = []
        for name, value in record.to_hash().items():
            fields += [name, value]
        created, stored = self._create(
            keys=keys,
            args=[
                f"{record.id}|{digest}",
                idempotency_ttl_s,
                self._ttl_s(record.valid_until_ms, now_ms),
                now_ms,
                record.id,
                *fields,
            ],
        )
        first_id, _, first_digest = str(stored).partition("|")
        if created:
            return CreateResult(True, first_id)
        return CreateResult(False, first_id, same_content=first_digest == digest)

    def discard(self, record: MessageRecord) -> None:
        """Forget a record whose job could not be published (and free its idempotency key)."""
        keys = [message_key(record.id), AWAITING_SENDER]
        if record.idempotency_key is not None:
            keys.append(idempotency_key(record.idempotency_key, record.idempotency_scope))
        digest = fingerprint_digest(record.fingerprint)
        self._discard(keys=keys, args=[f"{record.id}|{digest}", record.id])

    def get(self, message_id: str) -> tuple[MessageRecord, list[Attempt]] | None:
        """The record and its attempts, or None."""
        with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(message_key(message_id))
            pipe.lrange(attempts_key(message_id), 0, -1)
            raw, raw_attempts = pipe.execute()
        if not raw:
            return None
        return MessageRecord.from_hash(raw), [Attempt.from_json(a) for a in raw_attempts]

    def claim(self, message_id: str, *, lease_ms: int, now_ms: int) -> Claim:
        """Take the send lease if the message is still to be sent and nobody holds it."""
        token = secrets.token_hex(8)
        result: list[Any] = self._claim(
            keys=[
                message_key(message_id),
                lease_key(message_id),
                DELAY_QUEUE,
                IN_FLIGHT,
                AWAITING_SENDER,
            ],
            args=[token, lease_ms, now_ms, message_id],
        )
        status = result[0]
        if status == "missing":
            return Claim("missing")
        previous = MessageState(result[1])
        if status != "claimed":
            return Claim(status, previous)
        flat = result[2]
        raw = dict(zip(flat[::2], flat[1::2], strict=True))
        return Claim("claimed", previous, MessageRecord.from_hash(raw), token)

    def finish(
        self,
        claim: Claim,
        *,
        attempt: Attempt | None,
        changes: dict[str, str],
        now_ms: int,
        action: Literal["none", "retry", "dead_letter"] = "none",
        score_ms: int = 0,
        provider_id: tuple[str, str] | None = None,
        reached_state: str | None = None,
    ) -> bool:
        """Record the attempt and the new fields, release the lease; with ``action`` "retry" put
        the message in the delay queue due at ``score_ms``, with "dead_letter" keep it (no TTL) in
        the dead letters. ``provider_id`` (provider, its message id) is indexed for delivery
        reports; ``reached_state`` (a state a callback is due for) is counted in the metrics and
        queues a status callback when the message has a callback URL.
        False if the lease was lost to another sender (the attempt is still recorded; the state
        is left to the holder)."""
        assert claim.record is not None
        record = claim.record
        fields: list[str] = ["updated_at_ms", str(now_ms)]
        for name, value in changes.items():
            fields += [name, value]
        done = self._finish(
            keys=[
                message_key(record.id),
                lease_key(record.id),
                attempts_key(record.id),
                DELAY_QUEUE,
                DEAD_LETTERS,
                IN_FLIGHT,
                provider_id_key(*provider_id) if provider_id else message_key(record.id),
                CALLBACKS,
                METRICS,
            ],
            args=[
                claim.token,
                attempt.to_json() if attempt else "",
                self._ttl_s(record.valid_until_ms, now_ms),
                action,
                score_ms,
                record.id,
                "1" if provider_id else "",
                reached_state or "",
                now_ms,
                *fields,
            ],
        )
        return bool(done)

    # --- delivery reports ---------------------------------------------------------------------

    def find_by_provider_id(self, provider: str, provider_message_id: str) -> str | None:
        """Our message id for a provider's message id, while the record is kept."""
        found = self._redis.get(provider_id_key(provider, provider_message_id))
        return None if found is None else str(found)

    def apply_report(
        self, message_id: str, *, state: str, provider_status: str, reason: str, now_ms: int
    ) -> str:
        """Record a delivery report; see ``_APPLY_REPORT`` for what comes back."""
        return str(
            self._apply_report(
                keys=[message_key(message_id), CALLBACKS, METRICS],
                args=[state, provider_status, reason, now_ms, message_id],
            )
        )

    # --- dead letters -------------------------------------------------------------------------

    def dead_letter_count(self) -> int:
        return int(self._redis.zcard(DEAD_LETTERS))

    def dead_letter_ids(self, *, start: int, count: int) -> list[tuple[str, int]]:
        """Dead-lettered ids, newest first, with when they were dead-lettered (epoch ms)."""
        rows = self._redis.zrevrange(DEAD_LETTERS, start, start + count - 1, withscores=True)
        return [(str(row[0]), int(row[1])) for row in rows]

    def dead_lettered_at_ms(self, message_id: str) -> int | None:
        score = self._redis.zscore(DEAD_LETTERS, message_id)
        return None if score is None else int(score)

    def get_many(self, message_ids: list[str]) -> list[MessageRecord | None]:
        """Records for ``message_ids`` in one round trip (None where a record is gone)."""
        with self._redis.pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.hgetall(message_key(message_id))
            rows = pipe.execute()
        return [MessageRecord.from_hash(raw) if raw else None for raw in rows]

    def take_for_replay(self, message_id: str, replacement_id: str) -> bool:
        """Take a message out of the dead letters, once; it then expires like any finished one."""
        return bool(
            self._take_for_replay(
                keys=[message_key(message_id), attempts_key(message_id), DEAD_LETTERS],
                args=[message_id, replacement_id, self._retention_s],
            )
        )

    def return_to_dead_letters(self, message_id: str, score_ms: int) -> None:
        """Undo :meth:`take_for_replay` when the replacement could not be enqueued."""
        self._return_to_dead_letters(
            keys=[message_key(message_id), attempts_key(message_id), DEAD_LETTERS],
            args=[message_id, score_ms],
        )

    def purge(self, message_id: str) -> bool:
        """Delete a dead letter for good. False if it was not a dead letter."""
        return bool(
            self._purge(
                keys=[message_key(message_id), attempts_key(message_id), DEAD_LETTERS],
                args=[message_id],
            )
        )
