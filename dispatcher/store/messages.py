"""The status store: message records, their attempts and send leases, in Redis.

Each state change that must not race is one Lua script (one round trip, atomic; the ``.lua``
files beside this module):

- ``create_messages``: record messages (and claim their idempotency keys) and queue their jobs;
- ``claim_message`` / ``claim_messages``: take the send lease of a message still to be sent;
- ``take_ready``: take the messages at the head of a queue's ready list and claim them, queueing
  the next job for the list when it still holds messages;
- ``finish_message``: append the attempt, move the state and release the lease, while the lease is
  ours;
- ``apply_report``: move an accepted message to its reported final state;
- ``cancel_messages``: cancel messages not yet handed to a sender;
- ``take_for_replay``, ``return_to_dead_letters``, ``purge_dead_letter``: the dead letters.

A message is one hash (``smsd:msg:<id>``): its fields, its send lease (``claim``,
``lease_until_ms``) and its attempts (``attempt:<n>``), so one expiry covers all of it.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Literal

import redis
from redis.exceptions import NoScriptError

from dispatcher.config.settings import Settings
from dispatcher.core.message_record import Attempt, MessageRecord
from dispatcher.core.spend_caps import SpendPeriods
from dispatcher.core.states import MessageState
from dispatcher.core.velocity import VelocityWindow
from dispatcher.errors import StoreError, StoreNotReplicatedError, StoreUnavailableError
from dispatcher.store.connection import REDIS_UNAVAILABLE, store_error, translates_redis_errors
from dispatcher.store.delivery_windows import BUCKETS, REPORT_BOUNDS_ARG, bucket_of
from dispatcher.store.door_counting import CreateResult, DoorCounting, create_result
from dispatcher.store.lua_scripts import StoreScript, lua_source, register_script
from dispatcher.store.redis_keys import (
    AWAITING_REPORTS,
    BODY_DROPS,
    CALLBACKS,
    DEAD_LETTERS,
    DELAY_QUEUE,
    MESSAGE_PREFIX,
    METRICS,
    OPT_OUTS,
    PENDING,
    SPEND_PREFIX,
    campaign_key,
    delivery_window_key,
    idempotency_key,
    message_key,
    poll_queue_key,
    provider_id_key,
    ready_list_key,
    ready_moved_key,
    spend_key,
)

_NO_COUNTING = DoorCounting(VelocityWindow(3_600_000))

__all__ = [
    "Claim",
    "ClaimStatus",
    "CreateResult",
    "Finish",
    "MessageStore",
    "attempts_of",
]

_ATTEMPT_FIELD = "attempt:"


def attempts_of(raw: dict[str, str]) -> list[Attempt]:
    """A record hash's attempts (its ``attempt:<n>`` fields), first to last."""
    numbered = [
        (int(name[len(_ATTEMPT_FIELD) :]), value)
        for name, value in raw.items()
        if name.startswith(_ATTEMPT_FIELD)
    ]
    return [Attempt.from_json(value) for _, value in sorted(numbered)]


def _spend_key_of(record: MessageRecord) -> str:
    """The spend of the month of a message's reservation (its own key, unused, when it has
    none)."""
    if record.spend_day is None:
        return message_key(record.id)
    return spend_key(SpendPeriods.of_day(record.spend_day).month)


def fingerprint_digest(fingerprint: str) -> str:
    return hashlib.sha256(fingerprint.encode()).hexdigest()


class ClaimStatus(enum.StrEnum):
    """What came of trying to take a message's send lease."""

    CLAIMED = "claimed"  # ours to send
    DONE = "done"  # accepted or final already: nothing to send
    BUSY = "busy"  # another sender holds a live lease
    NOT_DUE = "not_due"  # waiting for its retry; the delay queue publishes it when due
    MISSING = "missing"  # no record


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of trying to take a message's send lease."""

    status: ClaimStatus
    previous_state: MessageState | None = None
    record: MessageRecord | None = None
    token: str = ""
    last_attempt: Attempt | None = None  # the record's latest attempt, when claimed
    opted_out: bool = False  # claimed, and its number is on the opt-out list now: not to send


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
    # Accepted: when it stops waiting for its delivery report (epoch ms; 0 when not accepted).
    report_due_ms: int = 0
    # Accepted through a provider that reports only when asked: (that provider, when its status
    # is first looked up, epoch ms).
    first_poll: tuple[str, int] | None = None
    # What its attempt cost (micro-units), and whether its sending ends here (accepted or
    # final): its spend reservation, if it has one, is then settled.
    cost_micros: int = 0
    ends_sending: bool = False


def _claim_of(result: list[Any], token: str) -> Claim:
    """A claim script's answer as a :class:`Claim`."""
    status = ClaimStatus(result[0])
    if status is ClaimStatus.MISSING:
        return Claim(status)
    previous = MessageState(result[1])
    if status is not ClaimStatus.CLAIMED:
        return Claim(status, previous)
    flat = result[2]
    raw = dict(zip(flat[::2], flat[1::2], strict=True))
    raw["state"] = MessageState.SENDING.value  # the record was read just before the claim
    count = raw.get("attempt_count", "0")
    last = raw.get(f"attempt:{count}") if count != "0" else None
    return Claim(
        status,
        previous,
        MessageRecord.from_hash(raw),
        token,
        Attempt.from_json(last) if last else None,
        opted_out=len(result) > 3 and str(result[3]) == "1",
    )


class MessageStore:
    """Message records in Redis. Thread-safe: redis-py's connection pool is."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        retention_s: int,
        delivery_window_s: int = 3_600,
        body_retention_s: int = 0,
        dead_letters_keep_body: bool = True,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 500,
    ) -> None:
        self._redis = client
        # Replicas a new message must reach before it is acknowledged (redis.wait_replicas).
        self._wait_replicas = wait_replicas
        self._wait_timeout_ms = wait_timeout_ms
        self._retention_s = retention_s
        self._body_retention_ms = body_retention_s * 1000
        self._dead_letters_keep_body = dead_letters_keep_body
        self._delivery_window_ms = delivery_window_s * 1000
        self._create = register_script(client, "create_messages")
        self._claim = register_script(client, "claim_message")
        self._claim_many = register_script(client, "claim_messages")
        self._take_ready = register_script(client, "take_ready")
        self._finish = register_script(client, "finish_message")
        self._take_for_replay = register_script(client, "take_for_replay")
        self._return_to_dead_letters = register_script(client, "return_to_dead_letters")
        self._purge = register_script(client, "purge_dead_letter")
        self._apply_report = register_script(client, "apply_report")
        self._cancel = register_script(client, "cancel_messages")

    @classmethod
    def for_settings(cls, client: redis.Redis, settings: Settings) -> MessageStore:
        """The store as a deployment's settings keep it (the worker's and the enqueue core's)."""
        return cls(
            client,
            retention_s=settings.messages.retention_s,
            delivery_window_s=settings.delivery_reports.window_s,
            body_retention_s=settings.messages.body_retention_s,
            dead_letters_keep_body=settings.dead_letters.keep_body,
            wait_replicas=settings.redis.wait_replicas,
            wait_timeout_ms=settings.redis.wait_timeout_ms,
        )

    def close(self) -> None:
        """Close the connections of this store's client."""
        self._redis.close()

    def _replicated(self, script: StoreScript, keys: list[Any], args: list[Any]) -> Any:
        """Run ``script``, and with ``wait_replicas`` wait in the same round trip until that many
        replicas have its writes (:class:`StoreNotReplicatedError` when fewer confirm): a new
        message before it is acknowledged, a claim before its message is sent (a claim lost in
        a failover would send the message again with nothing to flag it)."""
        answer, confirmed = script.call_and_wait(
            keys, args, replicas=self._wait_replicas, timeout_ms=self._wait_timeout_ms
        )
        if confirmed < self._wait_replicas:
            raise StoreNotReplicatedError(confirmed, self._wait_replicas, self._wait_timeout_ms)
        return answer

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
        ready_template: str = "",
        guards: DoorCounting | None = None,
    ) -> CreateResult:
        """Record a new message (state ``queued``), claiming its idempotency key if it has one,
        and in the same step push ``job`` onto ``queue``, or with ``ready_template`` add the
        message to the queue's ready list (nothing when the key was known)."""
        (result,) = self.create_many(
            [(record, job)],
            idempotency_ttl_s=idempotency_ttl_s,
            now_ms=now_ms,
            queue=queue,
            ready_template=ready_template,
            guards=guards,
        )
        return result

    @translates_redis_errors
    def create_many(
        self,
        records: list[tuple[MessageRecord, str]],
        *,
        idempotency_ttl_s: int,
        now_ms: int,
        queue: str,
        batch_template: str = "",
        per_job: int = 1,
        ready_template: str = "",
        guards: DoorCounting | None = None,
    ) -> list[CreateResult]:
        """Record many new messages of one queue in one step, each with its own job (the
        ``str`` of each pair), or with one job of ``batch_template`` for every ``per_job`` new
        ids, or (with ``ready_template``, a job that drains a ready list) each added to the
        queue's ready list, which gets a job when it held none of them before. A message whose
        idempotency key is known is not recorded again; one a guard of ``guards`` refuses is not
        recorded, and the others are counted in them. With ``wait_replicas``, the same round trip
        waits for that many replicas to have it all, else :class:`StoreNotReplicatedError`."""
        counting = guards or _NO_COUNTING
        args: list[Any] = [
            now_ms,
            idempotency_ttl_s,
            MESSAGE_PREFIX,
            batch_template,
            queue,
            per_job,
            ready_list_key(queue) if ready_template else "",
            ready_template,
            *counting.header(now_ms),
        ]
        digests = []
        for record, job in records:
            digest = fingerprint_digest(record.fingerprint)
            digests.append(digest)
            args += self._create_group(record, job, digest, now_ms, counting.group(record))
        raw = self._replicated(
            self._create, [PENDING, OPT_OUTS, METRICS, DELAY_QUEUE, *counting.keys(now_ms)], args
        )
        return [
            create_result(answer, digest, record.id)
            for answer, digest, (record, _) in zip(raw, digests, records, strict=True)
        ]

    def _create_group(
        self, record: MessageRecord, job: str, digest: str, now_ms: int, guards: list[str]
    ) -> list[Any]:
        """The arguments of one message for ``create_messages.lua``."""
        key = (
            idempotency_key(record.idempotency_key, record.idempotency_scope)
            if record.idempotency_key is not None
            else ""
        )
        fields: list[str] = []
        for name, value in record.to_hash().items():
            fields += [name, value]
        return [
            record.id,
            f"{record.id}|{digest}",
            self._ttl_s(record.valid_until_ms, now_ms),
            key,
            job,
            ",".join(record.opt_out_check),
            record.send_at_ms if record.state is MessageState.SCHEDULED else "",
            campaign_key(record.campaign) if record.campaign else "",
            *guards,
            len(fields),
            *fields,
        ]

    @translates_redis_errors
    def count_refusal(self, code: str) -> None:
        """One more message refused at the door by a guard that needs no script (``code``)."""
        self._redis.hincrby(METRICS, f"refused|{code}", 1)

    @translates_redis_errors
    def get(self, message_id: str) -> tuple[MessageRecord, list[Attempt]] | None:
        """The record and its attempts, or None."""
        raw: dict[str, str] = self._redis.hgetall(message_key(message_id))  # type: ignore[assignment]
        if not raw:
            return None
        return MessageRecord.from_hash(raw), attempts_of(raw)

    @translates_redis_errors
    def claim(self, message_id: str, *, lease_ms: int, now_ms: int) -> Claim:
        """Take the send lease if the message is still to be sent and nobody holds it."""
        token = secrets.token_hex(8)
        result: list[Any] = self._replicated(
            self._claim,
            [message_key(message_id), DELAY_QUEUE, PENDING, OPT_OUTS],
            [token, lease_ms, now_ms, message_id],
        )
        return _claim_of(result, token)

    @translates_redis_errors
    def claim_many(self, message_ids: list[str], *, lease_ms: int, now_ms: int) -> list[Claim]:
        """:meth:`claim` for many messages in one step; one claim each, in order."""
        tokens = [secrets.token_hex(8) for _ in message_ids]
        args: list[Any] = [MESSAGE_PREFIX, lease_ms, now_ms]
        for message_id, token in zip(message_ids, tokens, strict=True):
            args += [message_id, token]
        results: list[Any] = self._replicated(
            self._claim_many, [DELAY_QUEUE, PENDING, OPT_OUTS], args
        )
        return [_claim_of(r, t) for r, t in zip(results, tokens, strict=True)]

    @translates_redis_errors
    def take_ready(
        self, queue: str, *, count: int, lease_ms: int, now_ms: int, ready_template: str
    ) -> list[tuple[str, Claim]]:
        """Take up to ``count`` messages from the head of ``queue``'s ready list and claim each
        (:meth:`claim`), in one step that also queues the next job of ``ready_template`` for the
        list when messages are left in it. Each id taken, with its claim, oldest first."""
        prefix = secrets.token_hex(8) + "."
        results: list[Any] = self._replicated(
            self._take_ready,
            [ready_list_key(queue), ready_moved_key(queue), DELAY_QUEUE, PENDING, OPT_OUTS],
            [MESSAGE_PREFIX, lease_ms, now_ms, count, prefix, ready_template, queue],
        )
        return [
            (str(message_id), _claim_of(claim, f"{prefix}{place}"))
            for place, (message_id, claim) in enumerate(results, start=1)
        ]

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

    @translates_redis_errors
    def apply_finish(self, finish: Finish) -> bool:
        """:meth:`finish` with its arguments in one :class:`Finish`."""
        keys, args = self._finish_call(finish)
        return bool(self._finish(keys=keys, args=args))

    def finish_many(self, finishes: list[Finish]) -> list[bool | StoreError]:
        """:meth:`finish` for many messages in one round trip; for each, whether its lease was
        still held, or the error its script met. Redis out of reach raises
        :class:`~dispatcher.errors.StoreUnavailableError` (none is known to be recorded then;
        each finish may be tried again)."""
        if len(finishes) == 1:  # a pipeline costs more than a plain call for one
            try:
                return [self.apply_finish(finishes[0])]
            except StoreUnavailableError:
                raise
            except StoreError as error:
                return [error]
        results = self._finish_in_pipeline(finishes)
        for result in results:
            if isinstance(result, REDIS_UNAVAILABLE):
                raise store_error(result) from result
        return [store_error(r) if isinstance(r, redis.RedisError) else bool(r) for r in results]

    @translates_redis_errors
    def _finish_in_pipeline(self, finishes: list[Finish]) -> list[Any]:
        results = self._run_finishes(finishes)
        unknown = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if unknown:  # first use on this server, or it restarted: those did not run
            self._finish.sha = self._redis.script_load(lua_source("finish_message"))
            again = self._run_finishes([finishes[i] for i in unknown])
            for i, result in zip(unknown, again, strict=True):
                results[i] = result
        return results

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
            AWAITING_REPORTS,
            poll_queue_key(finish.first_poll[0]) if finish.first_poll else message_key(record.id),
            BODY_DROPS,
            _spend_key_of(record),
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
            finish.report_due_ms or "",
            finish.first_poll[1] if finish.first_poll else "",
            self._body_drop_after(finish),
            finish.cost_micros or "",
            "1" if finish.ends_sending else "",
            *fields,
        ]
        return keys, args

    def _body_drop_after(self, finish: Finish) -> int | str:
        """How long after now a finished message's body is dropped ('': kept)."""
        final = finish.reached_state is not None and finish.reached_state != "accepted"
        kept = finish.action == "dead_letter" and self._dead_letters_keep_body
        return self._body_retention_ms if final and not kept else ""

    @translates_redis_errors
    def drop_body_later(self, message_id: str, *, now_ms: int) -> None:
        """Drop a message's body ``messages.body_retention_s`` from now (a replayed dead
        letter's, whose replacement carries its own)."""
        self._redis.zadd(BODY_DROPS, {message_id: now_ms + self._body_retention_ms})

    # --- cancel -------------------------------------------------------------------------------

    @translates_redis_errors
    def cancel_many(self, message_ids: list[str], *, now_ms: int) -> list[tuple[str, str]]:
        """Cancel each message not yet handed to a sender (``cancel_messages.lua``): for each,
        ``canceled``, ``not_cancelable`` or ``missing``, with the state it was found in."""
        if not message_ids:
            return []
        results: list[Any] = self._cancel(
            keys=[DELAY_QUEUE, PENDING, CALLBACKS, METRICS, BODY_DROPS],
            args=[MESSAGE_PREFIX, now_ms, self._body_retention_ms, SPEND_PREFIX, *message_ids],
        )
        return [(str(outcome), str(state)) for outcome, state in results]

    @translates_redis_errors
    def campaign_page(self, campaign: str, *, cursor: int, count: int) -> tuple[int, list[str]]:
        """One page of the ids sent with ``campaign``, and the cursor of the next (0: the last)."""
        next_cursor, ids = self._redis.sscan(campaign_key(campaign), cursor=cursor, count=count)
        return int(next_cursor), [str(i) for i in ids]

    # --- delivery reports ---------------------------------------------------------------------

    @translates_redis_errors
    def find_by_provider_id(self, provider: str, provider_message_id: str) -> str | None:
        """Our message id for a provider's message id, while the record is kept."""
        found = self._redis.get(provider_id_key(provider, provider_message_id))
        return None if found is None else str(found)

    @translates_redis_errors
    def apply_report(
        self,
        message_id: str,
        *,
        provider: str,
        state: str,
        provider_status: str,
        reason: str,
        now_ms: int,
        resend_leaving: tuple[str, ...] | None = None,
    ) -> str:
        """Record a delivery report from ``provider`` (pushed or looked up); with
        ``resend_leaving`` (the providers the message leaves: ``provider`` among them), an
        undelivered one sends the message once more instead of ending it. See
        ``apply_report.lua`` for what comes back."""
        keys = [
            message_key(message_id),
            CALLBACKS,
            METRICS,
            AWAITING_REPORTS,
            poll_queue_key(provider),
            delivery_window_key(provider, bucket_of(now_ms, self._delivery_window_ms)),
            DELAY_QUEUE,
            BODY_DROPS,
        ]
        # A bucket is kept while any of it is inside the window.
        ttl_s = (self._delivery_window_ms + self._delivery_window_ms // BUCKETS) // 1000 + 1
        leaving = ",".join(resend_leaving) if resend_leaving else ""
        args: list[str | int] = [
            state,
            provider_status,
            reason,
            now_ms,
            message_id,
            ttl_s,
            REPORT_BOUNDS_ARG,
            leaving,
            self._body_retention_ms,
        ]
        return str(self._apply_report(keys=keys, args=args))

    # --- dead letters -------------------------------------------------------------------------

    @translates_redis_errors
    def dead_letter_count(self) -> int:
        return int(self._redis.zcard(DEAD_LETTERS))

    @translates_redis_errors
    def dead_letter_ids(self, *, start: int, count: int) -> list[tuple[str, int]]:
        """Dead-lettered ids, newest first, with when they were dead-lettered (epoch ms)."""
        rows = self._redis.zrevrange(DEAD_LETTERS, start, start + count - 1, withscores=True)
        return [(str(row[0]), int(row[1])) for row in rows]

    @translates_redis_errors
    def dead_lettered_at_ms(self, message_id: str) -> int | None:
        score = self._redis.zscore(DEAD_LETTERS, message_id)
        return None if score is None else int(score)

    @translates_redis_errors
    def get_many(self, message_ids: list[str]) -> list[MessageRecord | None]:
        """Records for ``message_ids`` in one round trip (None where a record is gone)."""
        with self._redis.pipeline(transaction=False) as pipe:
            for message_id in message_ids:
                pipe.hgetall(message_key(message_id))
            rows = pipe.execute()
        return [MessageRecord.from_hash(raw) if raw else None for raw in rows]

    @translates_redis_errors
    def take_for_replay(self, message_id: str, replacement_id: str) -> bool:
        """Take a message out of the dead letters, once; it then expires like any finished one."""
        return bool(
            self._take_for_replay(
                keys=[message_key(message_id), DEAD_LETTERS],
                args=[message_id, replacement_id, self._retention_s],
            )
        )

    @translates_redis_errors
    def return_to_dead_letters(self, message_id: str, score_ms: int) -> None:
        """Undo :meth:`take_for_replay` when the replacement could not be enqueued."""
        self._return_to_dead_letters(
            keys=[message_key(message_id), DEAD_LETTERS],
            args=[message_id, score_ms],
        )

    @translates_redis_errors
    def purge(self, message_id: str) -> bool:
        """Delete a dead letter for good. False if it was not a dead letter."""
        return bool(
            self._purge(
                keys=[message_key(message_id), DEAD_LETTERS],
                args=[message_id],
            )
        )
