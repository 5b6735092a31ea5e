"""Status callbacks: one signed POST to a message's ``callback_url`` per state it reaches.

When a message with a ``callback_url`` reaches ``accepted``, ``delivered``, ``undelivered``,
``failed`` or ``expired``, the same Lua script that records the state queues a callback
(:mod:`dispatcher.store.callback_queue`). Every worker runs a :class:`CallbackSender` thread that
takes due callbacks, posts them on the worker's event loop, and on anything but a 2xx tries again
with exponential backoff (the retry policy's ceiling for the try, from ``callbacks.base_s`` to
``callbacks.cap_s``) until ``callbacks.max_attempts``; then the message records
``callback_failed``. What is posted and how it is signed: :mod:`dispatcher.core.status_callback`.

Inbound texts are forwarded to ``inbound.callback_url`` by the same sender, with the same
signing, retries and ``event_id`` (:mod:`dispatcher.core.inbound_message`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from dispatcher.config.settings import CallbackSettings
from dispatcher.core.clock import now_ms
from dispatcher.core.inbound_message import InboundMessage, inbound_callback_body
from dispatcher.core.message_record import MessageRecord
from dispatcher.core.retry_policy import RetryPolicy
from dispatcher.core.status_callback import SIGNATURE_HEADER, callback_body, sign
from dispatcher.errors import StoreError
from dispatcher.logs import get_logger
from dispatcher.sending.background_thread import BackgroundThread
from dispatcher.store.callback_queue import CallbackQueue

__all__ = ["CallbackSender", "Poster"]

_BATCH = 100
_PAUSE_AFTER_ERROR_S = 1.0


class Poster(Protocol):
    """Posts many requests at once (the worker's
    :class:`~dispatcher.sending.send_bridge.SendBridge`)."""

    def post_many(
        self, posts: list[tuple[str, bytes, dict[str, str]]], *, timeout_s: float
    ) -> list[int | None]: ...


class CallbackSender:
    """Posts due status callbacks, in a background thread."""

    def __init__(
        self,
        queue: CallbackQueue,
        poster: Poster,
        settings: CallbackSettings,
        *,
        poll_interval_s: float = 0.25,
        clock_ms: Callable[[], int] = now_ms,
        inbound_url: str = "",
    ) -> None:
        self._queue = queue
        self._inbound_url = inbound_url
        self._poster = poster
        self._settings = settings
        self._backoff = RetryPolicy(
            base_s=settings.base_s, cap_s=settings.cap_s, max_attempts=settings.max_attempts
        )
        self._poll_interval_s = poll_interval_s
        self._clock_ms = clock_ms
        self._thread = BackgroundThread("sms-callbacks", self._loop, join_timeout_s=15)
        self._stop = self._thread.stopping

    def _delay_ms(self, tries: int) -> int:
        return int(self._backoff.ceiling_s(tries) * 1000)

    def run_once(self) -> int:
        """Post one batch of due callbacks; how many were taken."""
        now = self._clock_ms()
        lease_ms = int((self._settings.timeout_s + 5) * 1000)
        members = self._queue.take_due(now_ms=now, count=_BATCH, lease_ms=lease_ms)
        if not members:
            return 0
        posts: list[tuple[str, bytes, dict[str, str]]] = []
        sendable: list[tuple[str, MessageRecord | InboundMessage]] = []
        gone: list[str] = []
        for member, record in zip(members, self._queue.records(members), strict=True):
            post = self._post_of(member, record, now) if record is not None else None
            if post is None:
                gone.append(member)
                continue
            assert record is not None
            posts.append(post)
            sendable.append((member, record))
        statuses = (
            self._poster.post_many(posts, timeout_s=self._settings.timeout_s) if posts else []
        )
        self._settle(gone, sendable, statuses)
        return len(members)

    def _post_of(
        self, member: str, record: MessageRecord | InboundMessage, now: int
    ) -> tuple[str, bytes, dict[str, str]] | None:
        """The signed POST of one callback (None: it has nowhere to go)."""
        if isinstance(record, InboundMessage):
            url = self._inbound_url
            body = inbound_callback_body(record, event_id=member, now_ms=now)
        else:
            url = record.callback_url or ""
            body = callback_body(record, member.partition("|")[2], event_id=member, now_ms=now)
        if not url:
            return None
        headers = {"Content-Type": "application/json", "User-Agent": "sms-dispatch"}
        if self._settings.secret:
            headers[SIGNATURE_HEADER] = sign(self._settings.secret, body)
        return url, body, headers

    def _settle(
        self,
        gone: list[str],
        sent: list[tuple[str, MessageRecord | InboundMessage]],
        statuses: list[int | None],
    ) -> None:
        log = get_logger(component="callbacks")
        done, gave_up, again = list(gone), [], []
        for (member, record), status in zip(sent, statuses, strict=True):
            if status is not None and 200 <= status < 300:
                done.append(member)
                log.info("callback.delivered", message_id=record.id, callback=member, status=status)
                continue
            tries = self._queue.count_failed_try(member)
            if not self._backoff.has_attempts_left(tries):
                gave_up.append((member, record.id))
                log.error("callback.gave_up", message_id=record.id, callback=member, tries=tries)
                continue
            delay_ms = self._delay_ms(tries)
            again.append((member, self._clock_ms() + delay_ms))
            log.warning(
                "callback.retry_scheduled",
                message_id=record.id,
                callback=member,
                status=status,
                tries=tries,
                delay_ms=delay_ms,
            )
        self._queue.settle(done=done, gave_up=gave_up, again=again)

    def _loop(self) -> None:
        log = get_logger(component="callbacks")
        while not self._stop.is_set():
            try:
                taken = self.run_once()
            except StoreError as exc:
                log.warning("callbacks.redis_error", error=exc.error)
                self._stop.wait(_PAUSE_AFTER_ERROR_S)
                continue
            except Exception:  # keep the sender alive; the callbacks stay queued
                log.exception("callbacks.unexpected_error")
                self._stop.wait(_PAUSE_AFTER_ERROR_S)
                continue
            if taken < _BATCH:
                self._stop.wait(self._poll_interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()
