"""What every provider personality of the simulator shares: the answer flow and report posting.

A personality checks what its provider checks (authentication, fields) itself, then hands the
send to :meth:`Personality.answer_send`, which applies the control API's outage, latency and
scripts, records the request, and on success remembers the message and schedules its delivery
report.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import aiohttp
from aiohttp import web

from providers.simulator.state import (
    AcceptedMessage,
    ReceivedRequest,
    ScriptedAnswer,
    SimulatorState,
)

__all__ = ["OutgoingReport", "Personality", "ReportPoster", "random_hex"]

# Callbacks waiting to be posted; beyond this they are counted as dropped, never queued.
MAX_PENDING_REPORTS = 10_000
REPORT_ATTEMPTS = 3
REPORT_TIMEOUT_S = 5.0


def random_hex(length: int) -> str:
    return os.urandom((length + 1) // 2).hex()[:length]


@dataclass(frozen=True, slots=True)
class OutgoingReport:
    """A delivery-report callback as the provider would post it."""

    url: str
    body: bytes
    content_type: str
    headers: Mapping[str, str] = field(default_factory=dict)


class ReportPoster:
    """Posts delivery reports after the simulated handset's delay, retrying as providers do.

    Sinch retries callbacks answered with 5xx or 429; the simulator does the same for every
    personality, up to :data:`REPORT_ATTEMPTS` tries.
    """

    def __init__(self, state: SimulatorState) -> None:
        self._state = state
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, report: OutgoingReport) -> None:
        if len(self._tasks) >= MAX_PENDING_REPORTS:
            self._state.reports_posted[-1] += 1  # -1: dropped
            return
        task = asyncio.get_running_loop().create_task(self._post_later(report))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post_later(self, report: OutgoingReport) -> None:
        await asyncio.sleep(self._state.report_delay_ms / 1000)
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=REPORT_TIMEOUT_S)
            )
        headers = {"Content-Type": report.content_type, **report.headers}
        for attempt in range(REPORT_ATTEMPTS):
            status = 0  # 0: no answer
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with self._session.post(report.url, data=report.body, headers=headers) as r:
                    status = r.status
            self._state.reports_posted[status] += 1
            if status and status < 500 and status != 429:
                return
            await asyncio.sleep(0.2 * 2**attempt)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()


class Personality(abc.ABC):
    """One provider's API, served with the credentials it was configured with."""

    kind: ClassVar[str]
    # The credential settings this personality checks (the same names as the adapter's).
    credential_settings: ClassVar[tuple[str, ...]]
    # Whether the provider documents a status lookup by its message id, and no callback that
    # can be relied on (GoSMS, YellowPush): its messages' reports are asked for, not pushed.
    reports_when_asked: ClassVar[bool] = False

    def __init__(
        self, state: SimulatorState, credentials: Mapping[str, str], reports: ReportPoster
    ) -> None:
        self.state = state
        self.credentials = dict(credentials)
        self.reports = reports

    @abc.abstractmethod
    def add_routes(self, app: web.Application) -> None: ...

    @abc.abstractmethod
    def new_message_id(self) -> str: ...

    @abc.abstractmethod
    def success(self, message: AcceptedMessage, payload: Any) -> web.Response:
        """The provider's answer to an accepted send."""

    @abc.abstractmethod
    def failure(self, status: int, code: str | int | None) -> web.Response:
        """The provider's documented answer for ``status`` and its own error ``code``."""

    def delivery_report(self, message: AcceptedMessage, url: str) -> OutgoingReport | None:
        """The callback this provider posts for ``message`` to ``url`` (None: it posts none)."""
        return None

    def inbound_post(self, url: str, sender: str, to: str, text: str) -> OutgoingReport | None:
        """The post this provider makes to ``url`` when ``sender`` texts ``text`` to our number
        ``to`` (None: its references document none)."""
        return None

    def outage(self, status: int) -> web.Response:
        return web.Response(status=status, text="Service Unavailable")

    def lookup_refused(self) -> web.Response | None:
        """Count a status lookup (a poll, a search by our reference); the failure it gets while
        lookups at this provider are made to fail, else None."""
        self.state.lookups[self.kind] += 1
        status = self.state.lookup_failure(self.kind)
        return None if status is None else self.outage(status)

    async def answer_send(
        self,
        request: web.Request,
        *,
        to: str,
        payload: Any,
        client_reference: str | None = None,
        callback_url: str | None = None,
    ) -> web.StreamResponse:
        """Answer a send that passed the provider's own checks (``to`` in E.164 with ``+``)."""
        self.state.answering += 1
        try:
            return await self._answer_send(request, to, payload, client_reference, callback_url)
        finally:
            self.state.answering -= 1

    async def _answer_send(
        self,
        request: web.Request,
        to: str,
        payload: Any,
        client_reference: str | None,
        callback_url: str | None,
    ) -> web.StreamResponse:
        outage = self.state.outage_status(self.kind)
        if outage is not None:
            self._record(request, to, payload, client_reference, outage, None)
            return self.outage(outage)
        scripted = self.state.next_answer(to, self.kind)
        delay_ms = self.state.latency_ms + (scripted.delay_ms if scripted else 0)
        if scripted is None or scripted.success:
            # The provider has the message from the moment it takes it; its answer may come
            # late (or never reach a client that gave up): a lookup meanwhile finds it.
            message = AcceptedMessage(
                provider=self.kind,
                provider_message_id=self.new_message_id(),
                to=to,
                client_reference=client_reference,
                report=scripted.report if scripted else "delivered",
                accepted_at_ms=self.state.now_ms(),
                callback_url=callback_url,
            )
            self.state.remember(message)
            answer = self.success(message, payload)
            if scripted is not None and scripted.success_status is not None:
                answer = _with_status(answer, scripted.success_status)
            self._record(
                request, to, payload, client_reference, answer.status, message.provider_message_id
            )
            await _answer_after(delay_ms)
            url = callback_url or self.state.report_urls.get(self.kind)
            report = self.delivery_report(message, url) if url else None
            if report is not None:
                self.reports.schedule(report)
            return answer
        self._record(request, to, payload, client_reference, scripted.status, None)
        await _answer_after(delay_ms)
        if scripted.fault is not None:
            return await broken_answer(request, scripted)
        return self._scripted(scripted)

    def _scripted(self, answer: ScriptedAnswer) -> web.Response:
        if answer.raw is not None:
            return web.Response(status=answer.status, text=answer.raw, headers=answer.headers)
        if answer.body is not None:
            return web.json_response(answer.body, status=answer.status, headers=answer.headers)
        response = self.failure(answer.status, answer.code)
        response.headers.update(answer.headers)
        return response

    def _record(  # noqa: PLR0917 - one call site per outcome, all positional
        self,
        request: web.Request,
        to: str,
        payload: Any,
        client_reference: str | None,
        status: int,
        provider_message_id: str | None,
    ) -> None:
        self.state.record(
            ReceivedRequest(
                provider=self.kind,
                path=request.path,
                to=[to],
                payload=payload,
                authorization_ok=True,
                client_reference=client_reference,
                status=status,
                provider_message_id=provider_message_id,
                received_at_ms=self.state.now_ms(),
            )
        )


_CHUNK = b" " * 65_536
_STALL_POLL_S = 0.1


async def _answer_after(delay_ms: int) -> None:
    if delay_ms > 0:
        await asyncio.sleep(delay_ms / 1000)


def _gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


async def broken_answer(request: web.Request, answer: ScriptedAnswer) -> web.StreamResponse:
    """An answer whose exchange breaks after the status line, as ``answer.fault`` says. Each
    ends as soon as the client has gone, so a stalled answer never outlives its client."""
    response = web.StreamResponse(status=answer.status, headers=answer.headers)
    response.content_type = "application/json"
    if answer.fault == "close_mid_body":
        response.content_length = 4096
    elif answer.fault == "huge_body":
        response.content_length = answer.size_bytes
    elif answer.fault == "split_body":
        response.content_length = len((answer.raw or "").encode())
    await response.prepare(request)
    with contextlib.suppress(ConnectionError, RuntimeError):  # the client went away mid-answer
        if answer.fault == "stall_after_headers":
            await response.write(b'{"id": ')
            loop = asyncio.get_running_loop()
            until = loop.time() + answer.stall_s
            while loop.time() < until and not _gone(request):
                await asyncio.sleep(_STALL_POLL_S)
        elif answer.fault == "split_body":
            whole = (answer.raw or "").encode()
            await response.write(whole[: len(whole) // 2])
            await asyncio.sleep(answer.stall_s)
            await response.write(whole[len(whole) // 2 :])
        elif answer.fault == "close_mid_body":
            await response.write(b'{"id": "' + b"0" * 1000)
            assert request.transport is not None
            request.transport.close()
        else:
            left = answer.size_bytes
            while left > 0 and not _gone(request):
                await response.write(_CHUNK[:left])
                left -= len(_CHUNK)
    return response


def _with_status(answer: web.Response, status: int) -> web.Response:
    """A success answer with another 2xx; a 204 carries no body."""
    if status == 204:
        return web.Response(status=204)
    answer.set_status(status)
    return answer
