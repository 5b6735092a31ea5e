"""The worker's provider exchanges, on its event loop (:mod:`dispatcher.sending.loop_thread`).

Celery's ``threads`` pool runs many jobs at once; each job thread hands its provider conversation
to the loop (:meth:`SendBridge.send`) and waits for it with a bound, since the ``threads`` pool
ignores Celery's time limits. The loop holds one long-lived ``aiohttp.ClientSession`` per
provider, so connections are pooled and kept alive across messages.

Nothing is created at import time: the loop, its thread and the sessions start on first use in the
process that uses them (after any fork), and :meth:`SendBridge.close` closes them on shutdown.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import aiohttp
import yarl

from dispatcher.core.addresses import refused_literal
from dispatcher.sending.loop_thread import LoopThread
from dispatcher.sending.public_resolver import PublicOnlyResolver
from providers.base import OutboundSms, Provider
from providers.outcome import TransportFailure, TransportPhase, classify_transport
from providers.transport import (
    Reconciliation,
    SendOutcome,
    StatusLookup,
    conversation_budget_s,
    look_up_reference,
    look_up_status,
    send_through,
)

__all__ = ["SendBridge"]

_T = TypeVar("_T")
_Then = Callable[[SendOutcome | BaseException], None]
# A send handed to the loop: through which provider, what, what to call with its outcome, and
# how long it may take (s).
_Arrival = tuple[Provider, OutboundSms, _Then, float]

# How long past a provider's own timeout a job thread waits for the loop before giving up.
_BRIDGE_GRACE_S = 2.0
_WATCH_S = 0.5  # how often the loop looks for sends past their deadline
# The session of status callbacks, kept apart from the providers' sessions by its name.
_CALLBACKS = "_callbacks"


def _bridge_timeout() -> SendOutcome:
    # The provider's own timeouts should have ended the exchange; it may have reached it.
    failure = TransportFailure(TransportPhase.AFTER_SEND, "BridgeTimeout")
    return SendOutcome(classify_transport(failure), None)


class SendBridge:
    """Performs provider requests from job threads on the loop, one pooled session per provider."""

    def __init__(
        self, *, connections_per_provider: int, callbacks_public_only: bool = False
    ) -> None:
        self._loop_thread = LoopThread()
        self._connections = connections_per_provider
        self._callbacks_public_only = callbacks_public_only
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        # Sends under way (kept referenced): when each must end, by the loop's clock, and what to
        # call with its outcome; one watch every _WATCH_S cancels those past their end (rather
        # than a timer and a task per send).
        self._under_way: dict[asyncio.Task[SendOutcome], tuple[float, _Then]] = {}
        self._overdue: set[asyncio.Task[SendOutcome]] = set()
        self._watching = False
        # Sends handed over by other threads and not yet started on the loop. Only the hand-over
        # that finds it empty wakes the loop: the sends that come while it is waking ride along.
        self._arrivals: collections.deque[_Arrival] = collections.deque()
        self._arrivals_lock = threading.Lock()

    def _session(self, provider: str) -> aiohttp.ClientSession:
        # Only called on the loop thread, so no lock is needed.
        session = self._sessions.get(provider)
        if session is None or session.closed:
            public_only = provider == _CALLBACKS and self._callbacks_public_only
            connector = aiohttp.TCPConnector(
                limit=self._connections,
                limit_per_host=self._connections,
                keepalive_timeout=30,
                ttl_dns_cache=300,
                resolver=PublicOnlyResolver() if public_only else None,
            )
            # No provider API here sets cookies: a jar that keeps none saves its work per send.
            session = aiohttp.ClientSession(
                connector=connector, raise_for_status=False, cookie_jar=aiohttp.DummyCookieJar()
            )
            self._sessions[provider] = session
        return session

    async def _send(self, provider: Provider, sms: OutboundSms) -> SendOutcome:
        return await send_through(self._session(provider.name), provider, sms)

    def send(self, provider: Provider, sms: OutboundSms) -> SendOutcome:
        """Send ``sms`` through ``provider`` on the loop; never waits past its budget + grace."""
        try:
            return self._loop_thread.run(
                self._send(provider, sms),
                timeout_s=conversation_budget_s(provider) + _BRIDGE_GRACE_S,
            )
        except concurrent.futures.TimeoutError:
            return _bridge_timeout()

    def _watch(self) -> None:
        """Cancel the sends past their deadline; look again while any is under way."""
        loop = self._loop_thread.loop
        now = loop.time()
        for task, (deadline, _) in self._under_way.items():
            if deadline <= now and not task.done():
                self._overdue.add(task)
                task.cancel()
        self._watching = bool(self._under_way)
        if self._watching:
            loop.call_later(_WATCH_S, self._watch)

    def send_then(
        self,
        provider: Provider,
        sms: OutboundSms,
        then: _Then,
    ) -> None:
        """Start sending ``sms`` on the loop and return at once; ``then`` is called on the loop
        with the outcome (or the exception) within the provider's budget + grace (+ at most
        ``_WATCH_S``, how often overdue sends are looked for)."""
        arrival = (provider, sms, then, conversation_budget_s(provider) + _BRIDGE_GRACE_S)
        with self._arrivals_lock:
            self._arrivals.append(arrival)
            wake = len(self._arrivals) == 1
        if wake:
            try:
                self._loop_thread.loop.call_soon_threadsafe(self._start_arrivals)
            except BaseException as exc:
                # The loop is gone (shutting down): none of the waiting sends will start. Ours
                # raises; the others, handed over meanwhile, end with the error.
                with self._arrivals_lock:
                    stranded, self._arrivals = self._arrivals, collections.deque()
                for other in stranded:
                    if other is not arrival:
                        other[2](exc)
                raise

    def _start_arrivals(self) -> None:
        """On the loop: start every send handed over since the last time."""
        with self._arrivals_lock:
            arrivals, self._arrivals = self._arrivals, collections.deque()
        loop = asyncio.get_running_loop()
        now = loop.time()
        for provider, sms, then, budget_s in arrivals:
            task = loop.create_task(self._send(provider, sms))
            self._under_way[task] = (now + budget_s, then)
            task.add_done_callback(self._send_ended)
        if not self._watching:
            self._watching = True
            loop.call_later(_WATCH_S, self._watch)

    def _send_ended(self, task: asyncio.Task[SendOutcome]) -> None:
        _, then = self._under_way.pop(task)
        if task in self._overdue:
            self._overdue.discard(task)
            then(_bridge_timeout())
        elif task.cancelled():
            then(asyncio.CancelledError())
        elif (error := task.exception()) is not None:
            then(error)
        else:
            then(task.result())

    def _all_at_once(
        self,
        started: Callable[[], list[Coroutine[Any, Any, _T]]],
        *,
        timeout_s: float,
        missed: _T,
        count: int,
    ) -> list[_T]:
        """Run the ``count`` coroutines ``started`` makes (on the loop, where the sessions live)
        together; their results in order, or ``missed`` for each when they are not all done
        within ``timeout_s`` + grace."""

        async def all_of() -> list[_T]:
            return list(await asyncio.gather(*started()))

        try:
            return self._loop_thread.run(all_of(), timeout_s=timeout_s + _BRIDGE_GRACE_S)
        except concurrent.futures.TimeoutError:
            return [missed] * count

    def look_up_many(self, lookups: list[tuple[Provider, str]]) -> list[StatusLookup]:
        """Ask each provider for the status of the message it accepted as that id, all at once
        on the loop, each in its provider's session; what each learnt, in order, within the
        longest budget among them + grace."""
        if not lookups:
            return []
        return self._all_at_once(
            lambda: [look_up_status(self._session(p.name), p, pmid) for p, pmid in lookups],
            timeout_s=max(conversation_budget_s(provider) for provider, _ in lookups),
            missed=StatusLookup(None, "BridgeTimeout"),
            count=len(lookups),
        )

    def look_up_references(self, lookups: list[tuple[Provider, str, int]]) -> list[Reconciliation]:
        """Ask each provider whether it has the message sent with that reference (at or after
        that time, epoch ms), all at once on the loop; what each came to, in order, within the
        longest provider timeout among them + grace."""
        if not lookups:
            return []
        return self._all_at_once(
            lambda: [
                look_up_reference(self._session(p.name), p, reference, since_ms)
                for p, reference, since_ms in lookups
            ],
            timeout_s=max(provider.timeout_s for provider, _, _ in lookups),
            missed=Reconciliation("lookup_failed", reason="BridgeTimeout"),
            count=len(lookups),
        )

    async def _post(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
        if self._callbacks_public_only and refused_literal(yarl.URL(url).host):
            raise aiohttp.ClientConnectionError("callbacks go to public addresses only")
        session = self._session(_CALLBACKS)
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        async with session.post(url, data=body, headers=headers, timeout=timeout) as answer:
            await answer.content.read(1024)  # a little of the answer; the status is what counts
            return answer.status

    def post_many(
        self, posts: list[tuple[str, bytes, dict[str, str]]], *, timeout_s: float
    ) -> list[int | None]:
        """POST each (url, body, headers) concurrently on the loop; each answer's status, or None
        when the request failed or timed out."""

        async def one(url: str, body: bytes, headers: dict[str, str]) -> int | None:
            try:
                return await self._post(url, body, headers, timeout_s)
            except (TimeoutError, aiohttp.ClientError, ValueError):
                return None

        return self._all_at_once(
            lambda: [one(*post) for post in posts],
            timeout_s=timeout_s,
            missed=None,
            count=len(posts),
        )

    async def _close_sessions(self) -> None:
        # Runs on the loop thread, where the sessions live.
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            with contextlib.suppress(Exception):
                await session.close()

    def close(self) -> None:
        """Close every session, then stop the loop (if it ever started)."""
        if self._loop_thread.started:
            with contextlib.suppress(Exception):
                self._loop_thread.run(self._close_sessions(), timeout_s=10)
        self._loop_thread.stop()
