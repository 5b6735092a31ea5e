"""The enqueue core, shared by the Python API, the HTTP API and the CLI.

A message is validated at once (:class:`~dispatcher.errors.InvalidMessage` names each bad field),
then recorded as ``queued`` in Redis and given its place to be sent in one script: nothing is
queued without a record, and no record is left without a way to be sent. If Redis cannot be
reached :class:`~dispatcher.errors.EnqueueError` is raised, so the caller knows the message was
not taken.

Messages sent one at a time share send jobs under load, as ``send_bulk``'s do. Each joins its
priority queue's ready list (``smsd:ready:<queue>``); one arriving at an empty list gets a job at
once (a lone message goes as soon as it would with a job of its own), and the ones arriving while
that job waits only join the list. A worker's job takes up to ``messages.bulk_job_size`` ids from
the list, claims them in the same step and queues the next job when it leaves any behind, so
several job threads and workers drain one list at once and nothing waits to fill a batch.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery

from dispatcher.config.dev_state import resolve_redis_address
from dispatcher.config.redis_address import RedisAddress
from dispatcher.config.settings import Settings, get_settings
from dispatcher.core.clock import now_ms
from dispatcher.core.ids import new_message_id
from dispatcher.core.key_rules import KeyRules
from dispatcher.core.masking import mask_number
from dispatcher.core.message_record import MessageRecord
from dispatcher.core.names import PRIORITY_QUEUES, SEND_BATCH_TASK, SEND_READY_TASK
from dispatcher.core.opt_outs import message_digests
from dispatcher.core.states import MessageState
from dispatcher.errors import (
    EnqueueError,
    IdempotencyConflict,
    InvalidMessage,
    MessageNotFound,
    NotCancelable,
    OptedOut,
    Refused,
    StoreError,
    StoreNotReplicatedError,
    StoreOutOfMemoryError,
)
from dispatcher.intake import erasure
from dispatcher.intake.door_guards import DoorGuards
from dispatcher.intake.opt_outs import OptOuts
from dispatcher.intake.pumping_guard import PumpingGuard
from dispatcher.intake.validation import NewMessage, validate_message
from dispatcher.logs import get_logger
from dispatcher.queueing.celery_app import build_celery_app
from dispatcher.queueing.job_payloads import job_template
from dispatcher.store.connection import RedisClient, connect_redis
from dispatcher.store.door_counting import CreateResult, DoorCounting
from dispatcher.store.inbound_messages import InboundStore
from dispatcher.store.messages import MessageStore
from dispatcher.store.opt_outs import OptOutList

__all__ = [
    "Dispatcher",
    "Receipt",
    "add_opt_out",
    "cancel",
    "cancel_campaign",
    "default_dispatcher",
    "erase_number",
    "get_status",
    "is_opted_out",
    "remove_opt_out",
    "report_conversion",
    "send_bulk",
    "send_sms",
]

# Messages of one priority recorded by one script call of send_bulk.
_BULK_CHUNK = 500

_MESSAGE_FIELDS = frozenset(
    {
        "to",
        "body",
        "sender",
        "idempotency_key",
        "priority",
        "validity",
        "providers",
        "callback_url",
        "metadata",
        "category",
        "send_at",
        "campaign",
    }
)


@dataclass(frozen=True, slots=True)
class _JobTemplates:
    """The Celery jobs enqueue has the store's scripts write: a batch's, a ready list's."""

    batch: str
    ready: str


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the caller gets back for an accepted-at-the-door message."""

    id: str
    state: str
    segments: int
    encoding: str
    duplicate: bool = False  # True when an idempotency key returned an earlier message
    smart_encoded: bool = False  # typographic characters were sent as their GSM-7 equivalents


def _refusal_of(exc: Refused) -> dict[str, Any]:
    """A guard's refusal of one message of a bulk send, as its result says it."""
    return {"code": exc.code, "message": str(exc), **exc.details()}


def _fields_of(item: object) -> dict[str, Any]:
    """One item of a bulk send as keyword arguments, or InvalidMessage when it is no object."""
    if not isinstance(item, Mapping):
        raise InvalidMessage({"message": "must be an object with to, body, ..."})
    return {str(k): v for k, v in item.items()}


class Dispatcher:
    """Enqueues messages and reads their status. Thread-safe; connects on first use."""

    def __init__(
        self,
        settings: Settings,
        *,
        redis_url: str | None = None,
        celery_app: Celery | None = None,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._settings = settings
        self._redis_url = redis_url
        self._address: RedisAddress | None = None
        self._celery_app = celery_app
        self._job_templates: _JobTemplates | None = None
        self._store: MessageStore | None = None
        self._client: RedisClient | None = None
        self._opt_outs: OptOuts | None = None
        self._inbound: InboundStore | None = None
        self._pumping_guard: PumpingGuard | None = None
        self._clock_ms = clock_ms
        self._guards = DoorGuards(settings)
        self._lock = threading.Lock()

    def _url(self) -> RedisAddress:
        # Called under self._lock.
        if self._address is None:
            self._address = (
                resolve_redis_address(self._settings)
                if self._redis_url is None
                else self._settings.redis_address(self._redis_url)
            )
        return self._address

    @property
    def store(self) -> MessageStore:
        """The status store this dispatcher records in (connects on first use)."""
        with self._lock:
            if self._store is None:
                self._client = connect_redis(self._url())
                self._store = MessageStore.for_settings(self._client, self._settings)
            return self._store

    @property
    def store_client(self) -> RedisClient:
        """The connection of :attr:`store`, for the store's views (stats, metrics, limits)."""
        self.store  # noqa: B018 - connects on first use
        assert self._client is not None
        return self._client

    @property
    def opt_outs(self) -> OptOuts:
        """The opt-out list this dispatcher checks messages against (connects on first use)."""
        client = self.store_client
        with self._lock:
            if self._opt_outs is None:
                self._opt_outs = OptOuts(
                    self._settings, OptOutList(client), clock_ms=self._clock_ms
                )
            return self._opt_outs

    @property
    def inbound(self) -> InboundStore:
        """The inbound texts this deployment has recorded (connects on first use)."""
        client = self.store_client
        with self._lock:
            if self._inbound is None:
                self._inbound = InboundStore(
                    client,
                    retention_s=self._settings.messages.retention_s,
                    text_retention_s=self._settings.inbound.retention_s,
                )
            return self._inbound

    @property
    def pumping_guard(self) -> PumpingGuard:
        """Conversions and the pumping guard's brakes (connects on first use)."""
        store = self.store
        client = self.store_client
        with self._lock:
            if self._pumping_guard is None:
                self._pumping_guard = PumpingGuard(
                    self._settings, client, store, clock_ms=self._clock_ms
                )
            return self._pumping_guard

    def report_conversion(self, message_id: str) -> dict[str, Any]:
        """The web app used ``message_id`` (see :meth:`PumpingGuard.report_conversion`)."""
        return self.pumping_guard.report_conversion(message_id)

    @property
    def celery_app(self) -> Celery:
        with self._lock:
            if self._celery_app is None:
                self._celery_app = build_celery_app(self._settings, self._url())
            return self._celery_app

    def validate(self, /, **fields: Any) -> NewMessage:
        """Validate one message's fields (the keyword arguments of :meth:`send_sms`). ``self``
        is positional-only, so a field named ``self`` is refused like any unknown one."""
        unknown = set(fields) - _MESSAGE_FIELDS
        if unknown:
            raise InvalidMessage(dict.fromkeys(sorted(unknown), "is not a known field"))
        if "to" not in fields or "body" not in fields:
            missing = {n: "is required" for n in ("to", "body") if n not in fields}
            raise InvalidMessage(missing)
        return validate_message(
            self._settings.messages,
            known_providers=[n for n, p in self._settings.providers.items() if p.enabled],
            allow_private_callbacks=self._settings.callbacks.allow_private_networks,
            now_ms=self._clock_ms(),
            **fields,
        )

    def prepare(
        self,
        message: NewMessage,
        *,
        replay_of: str | None = None,
        idempotency_scope: str | None = None,
        checks_opt_outs: bool = True,
        holds_spend: bool = False,
        key: KeyRules | None = None,
    ) -> MessageRecord:
        """The record a validated message will be kept as (state ``queued``), not yet stored;
        its idempotency key counts within ``idempotency_scope`` (an API key's name). With
        ``checks_opt_outs`` false (a reply to a STOP), the opt-out list does not apply to it.
        With ``holds_spend``, it carries what to reserve against the spend caps that apply to
        it (sent with ``key``)."""
        now = self._clock_ms()
        message_id = new_message_id(now)
        hold = self._guards.spend.hold(message_id, message, key, now) if holds_spend else None
        starts = message.send_at_ms or now
        rules = self._settings.opt_out
        applies = checks_opt_outs and (
            message.category == "marketing" or rules.applies_to_transactional
        )
        return MessageRecord(
            id=message_id,
            to=message.to,
            body=message.body,
            sender=message.sender,
            priority=message.priority,
            encoding=message.encoding,
            segments=message.segments,
            state=MessageState.SCHEDULED if message.send_at_ms else MessageState.QUEUED,
            created_at_ms=now,
            updated_at_ms=now,
            valid_until_ms=starts + message.validity_s * 1000,
            next_attempt_at_ms=message.send_at_ms,
            send_at_ms=message.send_at_ms,
            campaign=message.campaign,
            providers=message.providers,
            callback_url=message.callback_url,
            metadata=message.metadata,
            idempotency_key=message.idempotency_key,
            idempotency_scope=idempotency_scope if message.idempotency_key else None,
            fingerprint=message.content_fingerprint(),
            category=message.category,
            smart_encoded=message.smart_encoded,
            region=message.region,
            spend_held=hold.amount if hold else None,
            spend_counters=hold.counters if hold else (),
            spend_day=hold.day if hold else None,
            replay_of=replay_of,
            opt_out_check=message_digests(message.to, message.sender, scope=rules.scope)
            if applies
            else (),
        )

    def enqueue(
        self,
        message: NewMessage,
        *,
        idempotency_scope: str | None = None,
        key: KeyRules | None = None,
    ) -> Receipt:
        """Record a validated message and publish its job, if the guards at the door let it
        through (:class:`Refused`); ``key``: the API key it came with, whose own countries and
        spend caps apply."""
        self._refuse_country(message, key)
        record = self.prepare(
            message, idempotency_scope=idempotency_scope, holds_spend=True, key=key
        )
        return self.enqueue_record(record, guards=self._guards.counting([record], key), key=key)

    def _refuse_country(self, message: NewMessage, key: KeyRules | None) -> None:
        """Raise :class:`Refused` when the message's number is in a country it may not go to."""
        countries = key.countries if key else None
        refusal = self._guards.country_refusal(message.to, message.region, countries)
        if refusal is None:
            return
        try:
            self.store.count_refusal(refusal.code)
        except StoreError as exc:  # the message is refused all the same
            get_logger().warning("sms.refusal_not_counted", error=exc.error)
        raise refusal

    def enqueue_record(
        self,
        record: MessageRecord,
        *,
        guards: DoorCounting | None = None,
        key: KeyRules | None = None,
    ) -> Receipt:
        """Store a prepared record (claiming its idempotency key) and put it on its queue's ready
        list, in one step: it gets a send job of its own when it is the only message there, and
        otherwise is taken by the job already queued for the list, with the others waiting.
        With ``guards``, the guards at the door count it, or refuse it (:class:`Refused`)."""
        queue = PRIORITY_QUEUES[record.priority]
        try:
            created = self.store.create(
                record,
                idempotency_ttl_s=self._settings.messages.idempotency_ttl_s,
                now_ms=record.created_at_ms,
                queue=queue,
                ready_template=self._templates().ready,
                guards=guards,
            )
        except StoreError as exc:
            log = get_logger(message_id=record.id, to=mask_number(record.to))
            raise _enqueue_error(exc, f"message {record.id}", log) from exc
        return self._receipt(record, created, key)

    def _receipt(
        self, record: MessageRecord, created: CreateResult, key: KeyRules | None = None
    ) -> Receipt:
        """What the caller is told of one record: queued now, or the earlier message of its key."""
        log = get_logger(message_id=created.message_id, to=mask_number(record.to))
        if created.opted_out:
            log.info("sms.refused_opted_out", category=record.category)
            raise OptedOut(mask_number(record.to))
        if created.over_limit is not None:
            raise self._guards.rate_refusal(record, created.over_limit, self._clock_ms())
        if created.braked is not None:
            raise self._guards.brake_refusal(record, created.braked, self._clock_ms())
        if created.over_cap is not None:
            raise self._guards.cap_refusal(record, created.over_cap, key, self._clock_ms())
        if created.spend_alerts:
            self._guards.spend_alerts(record, created.spend_alerts, key)
        if not created.created:
            if not created.same_content:
                assert record.idempotency_key is not None
                raise IdempotencyConflict(record.idempotency_key, created.message_id)
            log.info("sms.idempotent_repeat")
            found = self.store.get(created.message_id)
            state = found[0].state.value if found else MessageState.QUEUED.value
            return Receipt(
                created.message_id,
                state,
                record.segments,
                record.encoding,
                duplicate=True,
                smart_encoded=record.smart_encoded,
            )
        log.info(
            "sms.enqueued",
            replay_of=record.replay_of,
            priority=record.priority,
            segments=record.segments,
            encoding=record.encoding,
            length=len(record.body),
            send_at_ms=record.send_at_ms,
            campaign=record.campaign,
            smart_encoded=record.smart_encoded,
        )
        return Receipt(
            record.id,
            record.state.value,
            record.segments,
            record.encoding,
            smart_encoded=record.smart_encoded,
        )

    def _templates(self) -> _JobTemplates:
        """The job templates of a batch and of a ready list (made once, without connecting)."""
        with self._lock:
            if self._job_templates is None:
                app = self._celery_app or build_celery_app(self._settings, self._url())
                self._celery_app = app
                self._job_templates = _JobTemplates(
                    batch=job_template(app, SEND_BATCH_TASK),
                    ready=job_template(app, SEND_READY_TASK),
                )
            return self._job_templates

    def send_sms(self, to: str, body: str, **options: Any) -> str:
        """Validate, record and publish one message; returns its id."""
        return self.enqueue(self.validate(to=to, body=body, **options)).id

    def send_bulk(
        self,
        messages: Iterable[Mapping[str, Any]],
        *,
        idempotency_scope: str | None = None,
        key: KeyRules | None = None,
    ) -> list[dict[str, Any]]:
        """Enqueue many messages; one result per message, in order: ``{"index", "id", "state",
        "segments", "encoding", "smart_encoded", "duplicate"}`` or ``{"index", "error": {"code",
        "message", ...}}`` (a guard's refusal adds ``field``, ``limit``, ``retry_after_s``).
        A bad message does not stop the others. The valid ones are recorded one Redis round trip
        per chunk of a priority, as soon as a chunk is full (the first are on their way while the
        rest are checked), their jobs queued in the same step, one job for every
        ``messages.bulk_job_size`` of them (a worker sends those together)."""
        results: dict[int, dict[str, Any]] = {}
        by_queue: dict[str, list[tuple[int, MessageRecord]]] = {}
        for index, fields in enumerate(messages):
            try:
                message = self.validate(**_fields_of(fields))
                self._refuse_country(message, key)
            except InvalidMessage as exc:
                error = {"code": "invalid_message", "message": str(exc), "fields": exc.fields}
                results[index] = {"index": index, "error": error}
                continue
            except Refused as exc:
                results[index] = {"index": index, "error": _refusal_of(exc)}
                continue
            record = self.prepare(
                message, idempotency_scope=idempotency_scope, holds_spend=True, key=key
            )
            queue = PRIORITY_QUEUES[record.priority]
            waiting = by_queue.setdefault(queue, [])
            waiting.append((index, record))
            if len(waiting) == _BULK_CHUNK:
                # Queued while the rest are still being checked: the first sends start sooner.
                self._record_chunk(queue, waiting, results, key)
                by_queue[queue] = []
        for queue, waiting in by_queue.items():
            if waiting:
                self._record_chunk(queue, waiting, results, key)
        return [results[index] for index in sorted(results)]

    def _record_chunk(
        self,
        queue: str,
        chunk: list[tuple[int, MessageRecord]],
        results: dict[int, dict[str, Any]],
        key: KeyRules | None,
    ) -> None:
        """Record one chunk of valid messages of ``queue`` and queue their jobs, in one round
        trip; each message's result goes into ``results``."""
        rules = self._settings.messages
        try:
            created = self.store.create_many(
                [(record, "") for _, record in chunk],
                idempotency_ttl_s=rules.idempotency_ttl_s,
                now_ms=self._clock_ms(),
                queue=queue,
                batch_template=self._templates().batch,
                per_job=rules.bulk_job_size,
                guards=self._guards.counting((record for _, record in chunk), key),
            )
        except StoreError as exc:
            raise _enqueue_error(exc, f"{len(chunk)} messages", get_logger()) from exc
        for (index, record), result in zip(chunk, created, strict=True):
            results[index] = self._bulk_result(index, record, result, key)

    def _bulk_result(
        self, index: int, record: MessageRecord, created: CreateResult, key: KeyRules | None
    ) -> dict[str, Any]:
        try:
            receipt = self._receipt(record, created, key)
        except Refused as exc:
            return {"index": index, "error": _refusal_of(exc)}
        except IdempotencyConflict as exc:
            error = {
                "code": "idempotency_conflict",
                "message": str(exc),
                "message_id": exc.message_id,
            }
            return {"index": index, "error": error}
        return {
            "index": index,
            "id": receipt.id,
            "state": receipt.state,
            "segments": receipt.segments,
            "encoding": receipt.encoding,
            "smart_encoded": receipt.smart_encoded,
            "duplicate": receipt.duplicate,
        }

    def get_status(self, message_id: str) -> dict[str, Any]:
        """State, provider, provider message id and every attempt of a message."""
        found = self.store.get(message_id)
        if found is None:
            raise MessageNotFound(message_id)
        record, attempts = found
        return {**record.public_view(attempts), "currency": self._settings.spend.currency}

    def cancel(self, message_id: str) -> dict[str, Any]:
        """Cancel a message still ``queued``, ``scheduled`` or ``retry_scheduled``: it becomes
        ``canceled`` (with its status callback) and is never sent; its status after. Raises
        :class:`MessageNotFound`, or :class:`NotCancelable` when it is being sent, accepted or
        final (nothing is changed)."""
        ((outcome, state),) = self.store.cancel_many([message_id], now_ms=self._clock_ms())
        if outcome == "missing":
            raise MessageNotFound(message_id)
        if outcome == "not_cancelable":
            raise NotCancelable(message_id, state)
        get_logger(message_id=message_id).info("sms.canceled", state=state)
        return self.get_status(message_id)

    def cancel_campaign(self, campaign: str) -> dict[str, Any]:
        """Cancel every message sent with the ``campaign`` tag not yet handed to a sender:
        ``{"campaign", "canceled", "not_cancelable": {state: count}}``."""
        canceled, kept = 0, dict[str, int]()
        cursor = 0
        while True:
            cursor, ids = self.store.campaign_page(campaign, cursor=cursor, count=500)
            for outcome, state in self.store.cancel_many(ids, now_ms=self._clock_ms()):
                if outcome == "canceled":
                    canceled += 1
                elif outcome == "not_cancelable":
                    kept[state] = kept.get(state, 0) + 1
            if cursor == 0:
                break
        get_logger(campaign=campaign).info("sms.campaign_canceled", canceled=canceled, kept=kept)
        return {"campaign": campaign, "canceled": canceled, "not_cancelable": kept}

    def erase_number(self, number: object) -> dict[str, Any]:
        """Delete every record, dead letter, inbound text and idempotency entry of ``number``;
        its opt-out entries stay, as digests. How many of each (see
        :func:`dispatcher.intake.erasure.erase_number`)."""
        return erasure.erase_number(self._settings, self.store_client, number)

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()


_default_lock = threading.Lock()
_default: tuple[int, Dispatcher] | None = None


def default_dispatcher() -> Dispatcher:
    """The process-wide dispatcher of the module functions, built on first use after any fork."""
    global _default  # noqa: PLW0603 - one per process, built lazily
    with _default_lock:
        if _default is None or _default[0] != os.getpid():
            _default = (os.getpid(), Dispatcher(get_settings()))
        return _default[1]


def send_sms(
    to: str,
    body: str,
    *,
    sender: str | None = None,
    idempotency_key: str | None = None,
    priority: str = "normal",
    validity: int | float | None = None,
    providers: list[str] | None = None,
    callback_url: str | None = None,
    metadata: dict[str, Any] | None = None,
    category: str | None = None,
    send_at: datetime | int | None = None,
    campaign: str | None = None,
) -> str:
    """Validate, record as ``queued`` and publish one SMS; returns the message id. ``category``
    is ``transactional`` or ``marketing`` (default: ``marketing`` for ``priority="bulk"``, else
    ``transactional``). ``send_at`` (a time-zone-aware datetime or epoch ms, up to
    ``messages.max_schedule_s`` ahead) schedules it: ``scheduled`` until then, its validity
    counted from then. ``campaign`` tags it, so :func:`cancel_campaign` can cancel them all.

    Raises :class:`InvalidMessage` naming each bad field, :class:`OptedOut` when the number is
    on the opt-out list (for this sender, under ``opt_out.scope = "sender"``),
    :class:`IdempotencyConflict` when the idempotency key was used for different content. The
    same key with the same content returns the first message's id and sends nothing more.
    """
    return default_dispatcher().send_sms(
        to,
        body,
        sender=sender,
        idempotency_key=idempotency_key,
        priority=priority,
        validity=validity,
        providers=providers,
        callback_url=callback_url,
        metadata=metadata,
        category=category,
        send_at=send_at,
        campaign=campaign,
    )


def send_bulk(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Enqueue many messages; see :meth:`Dispatcher.send_bulk`."""
    return default_dispatcher().send_bulk(messages)


def get_status(message_id: str) -> dict[str, Any]:
    """The status of a message; raises :class:`MessageNotFound`."""
    return default_dispatcher().get_status(message_id)


def add_opt_out(number: str, sender: str | None = None) -> bool:
    """Put ``number`` on the opt-out list (for ``sender`` only, under ``opt_out.scope =
    "sender"``); False when it was on it already. Raises :class:`InvalidMessage` for a bad
    number or sender."""
    added, _ = default_dispatcher().opt_outs.add(number, sender, source="api")
    return added


def remove_opt_out(number: str, sender: str | None = None) -> bool:
    """Take ``number`` off the opt-out list (for ``sender``); False when it was not on it."""
    return default_dispatcher().opt_outs.remove(number, sender, source="api")


def is_opted_out(number: str, sender: str | None = None) -> bool:
    """Whether a message to ``number`` (from ``sender``) would be refused for an opt-out."""
    return default_dispatcher().opt_outs.blocks(number, sender)


def cancel(message_id: str) -> dict[str, Any]:
    """Cancel a message not yet handed to a sender; see :meth:`Dispatcher.cancel`."""
    return default_dispatcher().cancel(message_id)


def cancel_campaign(campaign: str) -> dict[str, Any]:
    """Cancel every message of a campaign not yet sent; see :meth:`Dispatcher.cancel_campaign`."""
    return default_dispatcher().cancel_campaign(campaign)


def erase_number(number: str) -> dict[str, Any]:
    """Erase a phone number; see :meth:`Dispatcher.erase_number`."""
    return default_dispatcher().erase_number(number)


def report_conversion(message_id: str) -> dict[str, Any]:
    """Say that the message was used: the one-time code typed in, the link opened. Per country,
    OTPs sent and converted feed the pumping guard's brake (``guard.min_conversion_rate``).
    ``{"id", "converted_at_ms", "repeat"}``; raises :class:`MessageNotFound`."""
    return default_dispatcher().report_conversion(message_id)


def _enqueue_error(exc: StoreError, what: str, log: Any) -> EnqueueError:
    """The :class:`EnqueueError` (logged) of a store failure recording ``what``."""
    if isinstance(exc, StoreNotReplicatedError):
        log.warning("sms.not_replicated", confirmed=exc.confirmed, wanted=exc.wanted)
        return EnqueueError(
            f"{what} not replicated: {exc.detail}; recorded on the Redis master, but a failover "
            "now could lose it: send again with the same idempotency key"
        )
    if isinstance(exc, StoreOutOfMemoryError):
        log.error("sms.redis_out_of_memory")
        return EnqueueError(
            f"could not record and queue {what}: Redis is out of memory (maxmemory reached), "
            "nothing was recorded; try again later with the same idempotency key"
        )
    log.error("sms.publish_failed", error=exc.error)
    return EnqueueError(f"could not record and queue {what}")
