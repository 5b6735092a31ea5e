"""The status store: message records, their attempts and send leases, in Redis.

Each state change that must not race is one Lua script (one round trip, atomic):

- ``create``: record the message (and claim its idempotency key) before its job is published;
- ``claim``: take the send lease of a message that is still to be sent;
- ``finish``: append the attempt, move the state and release the lease, while the lease is ours.

A message is one hash (``smsd:msg:<id>``): its fields, its send lease (``claim``,
``lease_until_ms``) and its attempts (``attempt:<n>``), so one expiry covers all of it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import redis
from redis.exceptions import NoScriptError, RedisError

from dispatcher.core.message_record import Attempt, MessageRecord
from dispatcher.core.states import NOT_TO_BE_SENT, MessageState
from dispatcher.queueing.job_payloads import FILL_JOB_LUA
from dispatcher.store.redis_keys import (
    CALLBACKS,
    DEAD_LETTERS,
    DELAY_QUEUE,
    MESSAGE_PREFIX,
    METRICS,
    PENDING,
    idempotency_key,
    message_key,
    provider_id_key,
)

__all__ = ["Claim", "CreateResult", "Finish", "MessageStore", "attempts_of", "connect_redis"]

# KEYS: pending index. ARGV: now ms, idempotency ttl s, message key prefix, the batch job
# template ('' for a job a message), queue, messages a batch job, then one group a message: id,
# "<id>|<digest>", record ttl s, idempotency key ('' none), its own job ('' none), field count,
# fields... Records the new messages (state ``queued``), each claiming its idempotency key, and
# queues their jobs in the same step: each message's own job, or one batch job for every
# ``messages a batch job`` new ids. Returns {1 | 0, the first "<id>|<digest>" of the key} each.
_CREATE = (
    FILL_JOB_LUA
    + """
local now, idem_ttl, prefix = ARGV[1], ARGV[2], ARGV[3]
local batch_template, queue, per_job = ARGV[4], ARGV[5], tonumber(ARGV[6])
local results, fresh = {}, {}
local i = 7
while i <= #ARGV do
  local id, marker, ttl, idem, job = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local count = tonumber(ARGV[i + 5])
  local existing = false
  if idem ~= '' then
    existing = redis.call('GET', idem)
    if not existing then redis.call('SET', idem, marker, 'EX', idem_ttl) end
  end
  if existing then
    table.insert(results, {0, existing})
  else
    local key = prefix .. id
    redis.call('HSET', key, unpack(ARGV, i + 6, i + 5 + count))
    redis.call('EXPIRE', key, ttl)
    redis.call('ZADD', KEYS[1], now, id)
    if job ~= '' then redis.call('LPUSH', queue, job) end
    table.insert(fresh, id)
    table.insert(results, {1, marker})
  end
  i = i + 6 + count
end
if batch_template ~= '' then
  for first = 1, #fresh, per_job do
    local ids = table.concat(fresh, ',', first, math.min(#fresh, first + per_job - 1))
    redis.call('LPUSH', queue, fill_job(batch_template, fresh[first] .. '.b' .. now, ids, queue))
  end
end
return results
"""
)

_NOT_TO_BE_SENT_LUA = "{" + ", ".join(f"['{s.value}'] = true" for s in NOT_TO_BE_SENT) + "}"

# Take the send lease of a message still to be sent: state ``sending``, and in the pending index
# from waiting for a sender to being sent (scored by the lease end, negated). The lease is two
# fields of the record: the claim's token (``claim``) and when the lease ends
# (``lease_until_ms``, by the claimer's clock); a message ``sending`` under a lease that has not
# ended is busy.
_CLAIM_ONE = f"""
local function claim(message, delay, pending, token, lease_ms, now, id)
  local flat = redis.call('HGETALL', message)
  if #flat == 0 then return {{'missing'}} end
  local fields = {{}}
  for i = 1, #flat, 2 do fields[flat[i]] = flat[i + 1] end
  local state = fields['state']
  local done = {_NOT_TO_BE_SENT_LUA}
  if done[state] then return {{'done', state}} end
  if state == 'retry_scheduled' then
    local due = tonumber(fields['next_attempt_at_ms'] or '0')
    if due > tonumber(now) then return {{'not_due', state}} end
  end
  if state == 'sending' and tonumber(fields['lease_until_ms'] or '0') > tonumber(now) then
    return {{'busy', state}}
  end
  if state == 'retry_scheduled' then redis.call('ZREM', delay, id) end
  local lease_until = tonumber(now) + tonumber(lease_ms)
  redis.call('ZADD', pending, -lease_until, id)
  redis.call('HSET', message, 'state', 'sending', 'updated_at_ms', now, 'claim', token,
    'lease_until_ms', lease_until)
  -- The record as it was read; the caller knows it is now sending.
  return {{'claimed', state, flat}}
end
"""

# KEYS: message, delay queue, pending index. ARGV: token, lease ms, now ms, message id.
_CLAIM = _CLAIM_ONE + "return claim(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])"

# KEYS: delay queue, pending index. ARGV: message key prefix, lease ms, now ms, then message id
# and token pairs. One claim result a message.
_CLAIM_MANY = (
    _CLAIM_ONE
    + """
local results = {}
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  table.insert(results, claim(ARGV[1] .. id, KEYS[1], KEYS[2], ARGV[i + 1], ARGV[2], ARGV[3], id))
end
return results
"""
)

# A message reached a state a callback is due for (accepted, delivered, ...): when it has a
# callback_url, queue one status callback ("<id>|<state>", once).
_CALLBACK = """
local function queue_callback(message, callbacks, id, state, now, has_callback)
  if has_callback == nil then has_callback = redis.call('HEXISTS', message, 'callback_url') == 1 end
  if has_callback then redis.call('ZADD', callbacks, 'NX', now, id .. '|' .. state) end
end
"""

# KEYS: message, delay queue, dead letters, pending index, provider-id index, status callbacks.
# ARGV: token, attempt JSON or '', action (none|retry|dead_letter), score ms, message id,
#       provider-id index ttl s or '' (not indexed), the state reached (for a callback) or '',
#       now ms, '1' when the message has a callback URL,
#       then field/value pairs for the message hash.
# Each attempt is a field of the record (``attempt:<n>``, its JSON), so the record's expiry covers
# them and a dead letter keeps them.
_FINISH = (
    _CALLBACK
    + """
local known = redis.call('HMGET', KEYS[1], 'claim', 'attempt_count', 'retry_seq')
if not known[1] then return 0 end  -- no record (or never claimed): nothing to add to
local attempts = tonumber(known[2] or '0')
local fields = {}
if ARGV[2] ~= '' then
  attempts = attempts + 1
  fields = {'attempt:' .. attempts, ARGV[2], 'attempt_count', attempts}
end
-- The last claim owns the outcome, whether or not its lease ran out meanwhile.
if known[1] ~= ARGV[1] then
  -- Another sender holds the message now: keep this attempt, leave the rest to the holder.
  if #fields > 0 then redis.call('HSET', KEYS[1], unpack(fields)) end
  return 0
end
for i = 10, #ARGV do table.insert(fields, ARGV[i]) end
table.insert(fields, 'lease_until_ms')
table.insert(fields, '0')
if ARGV[3] == 'retry' then
  table.insert(fields, 'retry_seq')
  table.insert(fields, tonumber(known[3] or '0') + 1)
end
redis.call('HSET', KEYS[1], unpack(fields))
if ARGV[6] ~= '' then redis.call('SET', KEYS[5], ARGV[5], 'EX', ARGV[6]) end
if ARGV[7] ~= '' and ARGV[9] == '1' then
  queue_callback(KEYS[1], KEYS[6], ARGV[5], ARGV[7], ARGV[8], true)
end
if ARGV[3] == 'dead_letter' then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
  redis.call('PERSIST', KEYS[1])
elseif ARGV[3] == 'retry' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
end
redis.call('ZREM', KEYS[4], ARGV[5])
return 1
"""
)

# KEYS: message, status callbacks, metrics. ARGV: state (delivered|undelivered|pending), the
# provider's status word, reason, now ms, message id. Moves an accepted message to its reported
# final state (the first final report wins; a repeat changes nothing; a dead letter keeps its
# state but shows the report). Returns applied, same, final (another final state is kept),
# pending, missing, or not_accepted (the send is not recorded as accepted yet).
_APPLY_REPORT = (
    _CALLBACK
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
redis.call('HINCRBY', KEYS[3], 'messages|' .. ARGV[1], 1)
queue_callback(KEYS[1], KEYS[2], ARGV[5], ARGV[1], ARGV[4])
return 'applied'
"""
)

# KEYS: message, dead letters. ARGV: message id, replacement id, ttl s.
_TAKE_FOR_REPLAY = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'replayed_as', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: message, dead letters. ARGV: message id, score ms.
_RETURN_TO_DEAD_LETTERS = """
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'replayed_as')
redis.call('PERSIST', KEYS[1])
return 1
"""

# KEYS: message, dead letters. ARGV: message id.
_PURGE = """
if redis.call('ZREM', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1])
return 1
"""


_ATTEMPT_FIELD = "attempt:"


def attempts_of(raw: dict[str, str]) -> list[Attempt]:
    """A record hash's attempts (its ``attempt:<n>`` fields), first to last."""
    numbered = [
        (int(name[len(_ATTEMPT_FIELD) :]), value)
        for name, value in raw.items()
        if name.startswith(_ATTEMPT_FIELD)
    ]
    return [Attempt.from_json(value) for _, value in sorted(numbered)]


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
class Finish:
    """What :meth:`MessageStore.finish` records for one claimed message."""

    claim: Claim
    attempt: Attempt | None
    changes: dict[str, str]
    now_ms: int
    action: Literal["none", "retry", "dead_letter"] = "none"
    score_ms: int = 0
    provider_id: tuple[str, str] | None = None
    reached_state: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of trying to take a message's send lease."""

    status: Literal["claimed", "done", "busy", "not_due", "missing"]
    previous_state: MessageState | None = None
    record: MessageRecord | None = None
    token: str = ""


def _claim_of(result: list[Any], token: str) -> Claim:
    """A claim script's answer as a :class:`Claim`."""
    status = result[0]
    if status == "missing":
        return Claim("missing")
    previous = MessageState(result[1])
    if status != "claimed":
        return Claim(status, previous)
    flat = result[2]
    raw = dict(zip(flat[::2], flat[1::2], strict=True))
    raw["state"] = MessageState.SENDING.value  # the record was read just before the claim
    return Claim("claimed", previous, MessageRecord.from_hash(raw), token)


class MessageStore:
    """Message records in Redis. Thread-safe: redis-py's connection pool is."""

    def __init__(self, client: redis.Redis, *, retention_s: int) -> None:
        self._redis = client
        self._retention_s = retention_s
        self._create = client.register_script(_CREATE)
        self._claim = client.register_script(_CLAIM)
        self._claim_many = client.register_script(_CLAIM_MANY)
        self._finish = client.register_script(_FINISH)
        self._take_for_replay = client.register_script(_TAKE_FOR_REPLAY)
        self._return_to_dead_letters = client.register_script(_RETURN_TO_DEAD_LETTERS)
        self._purge = client.register_script(_PURGE)
        self._apply_report = client.register_script(_APPLY_REPORT)

    @property
    def redis(self) -> redis.Redis:
        return self._redis

    def _ttl_s(self, record_valid_until_ms: int, now_ms: int) -> int:
        return max(record_valid_until_ms - now_ms, 0) // 1000 + self._retention_s

    def create(
        self,
        record: MessageRecord,
        *,
        idempotency_ttl_s: int,
        now_ms: int,
        job: str = "",
        queue: str = "",
    ) -> CreateResult:
        """Record a new message (state ``queued``), claiming its idempotency key if it has one,
        and push ``job`` onto ``queue`` in the same step (nothing when the key was known)."""
        (result,) = self.create_many(
            [(record, job)], idempotency_ttl_s=idempotency_ttl_s, now_ms=now_ms, queue=queue
        )
        return result

    def create_many(
        self,
        records: list[tuple[MessageRecord, str]],
        *,
        idempotency_ttl_s: int,
        now_ms: int,
        queue: str,
        batch_template: str = "",
        per_job: int = 1,
    ) -> list[CreateResult]:
        """Record many new messages of one queue in one step, each with its own job (the
        ``str`` of each pair), or with one job of ``batch_template`` for every ``per_job`` new
        ids. A message whose idempotency key is known is not recorded again."""
        args: list[Any] = [
            now_ms,
            idempotency_ttl_s,
            MESSAGE_PREFIX,
            batch_template,
            queue,
            per_job,
        ]
        digests = []
        for record, job in records:
            digest = fingerprint_digest(record.fingerprint)
            digests.append(digest)
            key = (
                idempotency_key(record.idempotency_key, record.idempotency_scope)
                if record.idempotency_key is not None
                else ""
            )
            fields: list[str] = []
            for name, value in record.to_hash().items():
                fields += [name, value]
            args += [
                record.id,
                f"{record.id}|{digest}",
                self._ttl_s(record.valid_until_ms, now_ms),
                key,
                job,
                len(fields),
                *fields,
            ]
        raw: list[Any] = self._create(keys=[PENDING], args=args)
        results = []
        for (created, stored), digest in zip(raw, digests, strict=True):
            first_id, _, first_digest = str(stored).partition("|")
            results.append(
                CreateResult(True, first_id)
                if created
                else CreateResult(False, first_id, same_content=first_digest == digest)
            )
        return results

    def get(self, message_id: str) -> tuple[MessageRecord, list[Attempt]] | None:
        """The record and its attempts, or None."""
        raw: dict[str, str] = self._redis.hgetall(message_key(message_id))  # type: ignore[assignment]
        if not raw:
            return None
        return MessageRecord.from_hash(raw), attempts_of(raw)

    def claim(self, message_id: str, *, lease_ms: int, now_ms: int) -> Claim:
        """Take the send lease if the message is still to be sent and nobody holds it."""
        token = secrets.token_hex(8)
        result: list[Any] = self._claim(
            keys=[message_key(message_id), DELAY_QUEUE, PENDING],
            args=[token, lease_ms, now_ms, message_id],
        )
        return _claim_of(result, token)

    def claim_many(self, message_ids: list[str], *, lease_ms: int, now_ms: int) -> list[Claim]:
        """:meth:`claim` for many messages in one step; one claim each, in order."""
        tokens = [secrets.token_hex(8) for _ in message_ids]
        args: list[Any] = [MESSAGE_PREFIX, lease_ms, now_ms]
        for message_id, token in zip(message_ids, tokens, strict=True):
            args += [message_id, token]
        results: list[Any] = self._claim_many(keys=[DELAY_QUEUE, PENDING], args=args)
        return [_claim_of(r, t) for r, t in zip(results, tokens, strict=True)]

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
        reports; ``reached_state`` (a state a callback is due for) queues a status callback when
        the message has a callback URL (the caller counts it for the metrics:
        :mod:`dispatcher.store.message_counts`).
        False if the lease was lost to another sender (the attempt is still recorded; the state
        is left to the holder)."""
        return self.apply_finish(
            Finish(claim, attempt, changes, now_ms, action, score_ms, provider_id, reached_state)
        )

    def apply_finish(self, finish: Finish) -> bool:
        """:meth:`finish` with its arguments in one :class:`Finish`."""
        keys, args = self._finish_call(finish)
        return bool(self._finish(keys=keys, args=args))

    def finish_many(self, finishes: list[Finish]) -> list[bool | RedisError]:
        """:meth:`finish` for many messages in one round trip; for each, whether its lease was
        still held, or the error its script met. A lost connection raises (none is known to be
        recorded then; each finish may be tried again)."""
        if len(finishes) == 1:  # a pipeline costs more than a plain call for one
            try:
                return [self.apply_finish(finishes[0])]
            except (redis.ConnectionError, redis.TimeoutError):
                raise
            except RedisError as error:
                return [error]
        results = self._run_finishes(finishes)
        unknown = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if unknown:  # first use on this server, or it restarted: those did not run
            self._finish.sha = self._redis.script_load(_FINISH)
            again = self._run_finishes([finishes[i] for i in unknown])
            for i, result in zip(unknown, again, strict=True):
                results[i] = result
        for result in results:
            if isinstance(result, (redis.ConnectionError, redis.TimeoutError)):
                raise result
        return [r if isinstance(r, RedisError) else bool(r) for r in results]

    def _run_finishes(self, finishes: list[Finish]) -> list[Any]:
        # EVALSHA by hand: a Script object on a pipeline asks SCRIPT EXISTS first, every time.
        with self._redis.pipeline(transaction=False) as pipe:
            for finish in finishes:
                keys, args = self._finish_call(finish)
                pipe.evalsha(self._finish.sha, len(keys), *keys, *args)
            return list(pipe.execute(raise_on_error=False))

    def _finish_call(self, finish: Finish) -> tuple[list[str], list[Any]]:
        record = finish.claim.record
        assert record is not None
        now_ms, provider_id = finish.now_ms, finish.provider_id
        fields: list[str] = ["updated_at_ms", str(now_ms)]
        for name, value in finish.changes.items():
            fields += [name, value]
        keys = [
            message_key(record.id),
            DELAY_QUEUE,
            DEAD_LETTERS,
            PENDING,
            provider_id_key(*provider_id) if provider_id else message_key(record.id),
            CALLBACKS,
        ]
        args = [
            finish.claim.token,
            finish.attempt.to_json() if finish.attempt else "",
            finish.action,
            finish.score_ms,
            record.id,
            self._ttl_s(record.valid_until_ms, now_ms) if provider_id else "",
            finish.reached_state or "",
            now_ms,
            "1" if record.callback_url else "",
            *fields,
        ]
        return keys, args

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
                keys=[message_key(message_id), DEAD_LETTERS],
                args=[message_id, replacement_id, self._retention_s],
            )
        )

    def return_to_dead_letters(self, message_id: str, score_ms: int) -> None:
        """Undo :meth:`take_for_replay` when the replacement could not be enqueued."""
        self._return_to_dead_letters(
            keys=[message_key(message_id), DEAD_LETTERS],
            args=[message_id, score_ms],
        )

    def purge(self, message_id: str) -> bool:
        """Delete a dead letter for good. False if it was not a dead letter."""
        return bool(
            self._purge(
                keys=[message_key(message_id), DEAD_LETTERS],
                args=[message_id],
            )
        )
