"""Status callbacks: one signed POST to a message's ``callback_url`` per state it reaches.

When a message with a ``callback_url`` reaches ``accepted``, ``delivered``, ``undelivered``,
``failed`` or ``expired``, the same Lua script that records the state queues a callback
(``smsd:callbacks``, member ``<message id>|<state>``, added once). Every worker runs a
:class:`CallbackSender` thread that takes due callbacks (pushing each one's due time ahead while
it is being posted, so a worker that dies mid-post leaves it to the next), posts them on the
worker's event loop, and on anything but a 2xx tries again with exponential backoff until
``callbacks.max_attempts``; then the message records ``callback_failed``.

The body is JSON (see :func:`callback_body`). With ``callbacks.secret`` set, the header
``X-SmsDispatch-Signature: sha256=<hex>`` carries HMAC-SHA256(secret, body); a web app checks it
with :func:`verify_signature`. ``event_id`` (the member) is the same on every retry of one
callback, so a receiver can drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any, Protocol

import redis

from dispatcher.config.settings import CallbackSettings
from dispatcher.core.message_record import MessageRecord, mask_number
from dispatcher.logs import get_logger
from dispatcher.sending.background_thread import BackgroundThread
from dispatcher.store.redis_keys import CALLBACK_TRIES, CALLBACKS, message_key

__all__ = [
    "SIGNATURE_HEADER",
    "CallbackSender",
    "callback_body",
    "sign",
    "verify_signature",
]

SIGNATURE_HEADER = "X-SmsDispatch-Signature"
_BATCH = 100

# KEYS: callbacks. ARGV: now ms, batch, lease ms. Takes due callbacks, pushing them ahead by the
# lease so no other worker posts them meanwhile.
_TAKE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[3]), member)
end
return due
"""


def sign(secret: str, body: bytes) -> str:
    """The ``X-SmsDispatch-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (the ``X-SmsDispatch-Signature`` received) signs ``body``."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header or "")


def callback_body(record: MessageRecord, state: str, *, event_id: str, now_ms: int) -> bytes:
    """The JSON posted for ``record`` reaching ``state``; the number masked, no body."""
    document: dict[str, Any] = {
        "event_id": event_id,
        "message_id": record.id,
        "state": state,
        "to": mask_number(record.to),
        "provider": record.provider,
        "provider_message_id": record.provider_message_id,
        "segments": record.segments,
        "attempt_count": record.attempt_count,
        "final_reason": record.final_reason,
        "final_detail": record.final_detail,
        "possible_duplicate": record.possible_duplicate,
        "metadata": record.metadata,
        "sent_at_ms": now_ms,
    }
    return json.dumps(document, separators=(",", ":")).encode()


class Poster(Protocol):
    """Posts many requests at once (the worker's
    :class:`~dispatcher.sending.send_bridge.SendBridge`)."""

    def post_many(
        self, posts: list[tuple[str, bytes, dict[str, str]]], *, timeout_s: float
    ) -> list[int | None]: ...


def _now_ms() -> int:
    return int(time.time() * 1000)


class CallbackSender:
    """Posts due status callbacks, in a background thread."""

    def __init__(
        self,
        client: redis.Redis,
        poster: Poster,
        settings: CallbackSettings,
        *,
        poll_interval_s: float = 0.25,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._redis = client
        self._take = client.register_script(_TAKE)
        self._poster = poster
        self._settings = settings
        self._poll_interval_s = poll_interval_s
        self._clock_ms = clock_ms
        self._thread = BackgroundThread("sms-callbacks", self._loop, join_timeout_s=15)
        self._stop = self._thread.stopping

    def _delay_ms(self, tries: int) -> int:
        return int(min(self._settings.cap_s, self._settings.base_s * 2 ** (tries - 1)) * 1000)

    def run_once(self) -> int:
        """Post one batch of due callbacks; how many were taken."""
        now_ms = self._clock_ms()
        lease_ms = int((self._settings.timeout_s + 5) * 1000)
        members = [str(m) for m in self._take(keys=[CALLBACKS], args=[now_ms, _BATCH, lease_ms])]
        if not members:
            return 0
        pipe = self._redis.pipeline(transaction=False)
        for member in members:
            pipe.hgetall(message_key(member.partition("|")[0]))
        records = pipe.execute()
        posts: list[tuple[str, bytes, dict[str, str]]] = []
        sendable: list[tuple[str, MessageRecord]] = []
        gone: list[str] = []
        for member, raw in zip(members, records, strict=True):
            record = MessageRecord.from_hash(raw) if raw else None
            if record is None or not record.callback_url:
                gone.append(member)
                continue
            body = callback_body(record, member.partition("|")[2], event_id=member, now_ms=now_ms)
            headers = {"Content-Type": "application/json", "User-Agent": "sms-dispatch"}
            if self._settings.secret:
                headers[SIGNATURE_HEADER] = sign(self._settings.secret, body)
            posts.append((record.callback_url, body, headers))
            sendable.append((member, record))
        statuses = (
            self._poster.post_many(posts, timeout_s=self._settings.timeout_s) if posts else []
        )
        self._settle(gone, sendable, statuses)
        return len(members)

    def _settle(
        self,
        gone: list[str],
        sent: list[tuple[str, MessageRecord]],
        statuses: list[int | None],
    ) -> None:
        log = get_logger(component="callbacks")
        pipe = self._redis.pipeline(transaction=False)
        for member in gone:
            pipe.zrem(CALLBACKS, member)
            pipe.hdel(CALLBACK_TRIES, member)
        for (member, record), status in zip(sent, statuses, strict=True):
            if status is not None and 200 <= status < 300:
                pipe.zrem(CALLBACKS, member)
                pipe.hdel(CALLBACK_TRIES, member)
                log.info("callback.delivered", message_id=record.id, callback=member, status=status)
                continue
            tries = int(self._redis.hincrby(CALLBACK_TRIES, member, 1))
            if tries >= self._settings.max_attempts:
                pipe.zrem(CALLBACKS, member)
                pipe.hdel(CALLBACK_TRIES, member)
                pipe.hset(message_key(record.id), "callback_failed", "1")
                log.error("callback.gave_up", message_id=record.id, callback=member, tries=tries)
                continue
            delay_ms = self._delay_ms(tries)
            pipe.zadd(CALLBACKS, {member: self._clock_ms() + delay_ms})
            log.warning(
                "callback.retry_scheduled",
                message_id=record.id,
                callback=member,
                status=status,
                tries=tries,
                delay_ms=delay_ms,
            )
        pipe.execute()

    def _loop(self) -> None:
        log = get_logger(component="callbacks")
        while not self._stop.is_set():
            try:
                taken = self.run_once()
            except redis.RedisError as exc:
                log.warning("callbacks.redis_error", error=type(exc).__name__)
                self._stop.wait(1.0)
                continue
            except Exception:  # keep the sender alive; the callbacks stay queued
                log.exception("callbacks.unexpected_error")
                self._stop.wait(1.0)
                continue
            if taken < _BATCH:
                self._stop.wait(self._poll_interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()
