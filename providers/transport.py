"""Perform one adapter request over a long-lived ``aiohttp.ClientSession``.

This is the one place where aiohttp and asyncio errors become data: every failure of the exchange
is a :class:`~providers.outcome.TransportFailure` with the phase the request reached. Note that
``asyncio.TimeoutError`` is not an ``aiohttp.ClientError``; both are caught here.

Every exchange is bounded: a connect timeout, a read timeout between chunks and a total timeout
(``aiohttp.ClientTimeout``), and a cap on how many body bytes are read, so a hostile or broken
provider cannot hold a worker thread or grow its memory.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import aiohttp
from aiohttp import client_exceptions as cx

from providers.base import (
    DeliveryReport,
    HttpAnswer,
    HttpRequest,
    OutboundSms,
    Provider,
    ReferenceLookup,
    SessionAuth,
    StatusPolling,
)
from providers.outcome import (
    OutcomeKind,
    Scope,
    TransportFailure,
    TransportPhase,
    Verdict,
    classify_transport,
)

__all__ = [
    "BODY_CAP_BYTES",
    "Reconciliation",
    "SendOutcome",
    "StatusLookup",
    "conversation_budget_s",
    "exchange",
    "failure_phase",
    "look_up_reference",
    "look_up_status",
    "read_capped",
    "send_through",
    "session_auth",
    "timeout_for",
]

BODY_CAP_BYTES = 64 * 1024

# Most specific first: the first class an exception is an instance of decides its phase.
# BEFORE_SEND: the request provably never reached the provider, so a retry cannot duplicate.
_PHASES: tuple[tuple[type[BaseException], TransportPhase], ...] = (
    (cx.ConnectionTimeoutError, TransportPhase.BEFORE_SEND),
    (cx.ClientConnectorError, TransportPhase.BEFORE_SEND),  # refused, DNS, TLS, proxy, unix socket
    (cx.ServerFingerprintMismatch, TransportPhase.BEFORE_SEND),
    (cx.InvalidURL, TransportPhase.BEFORE_SEND),
    (cx.NonHttpUrlClientError, TransportPhase.BEFORE_SEND),
    (cx.SocketTimeoutError, TransportPhase.AFTER_SEND),
    (cx.ServerTimeoutError, TransportPhase.AFTER_SEND),
    (cx.ServerDisconnectedError, TransportPhase.AFTER_SEND),
    (cx.ClientConnectionResetError, TransportPhase.AFTER_SEND),
    (cx.ClientOSError, TransportPhase.AFTER_SEND),
    (cx.ClientPayloadError, TransportPhase.AFTER_SEND),
    (cx.UploadAbortedError, TransportPhase.AFTER_SEND),
    (cx.ClientResponseError, TransportPhase.AFTER_SEND),  # redirects, proxy, content type
    (cx.RedirectClientError, TransportPhase.AFTER_SEND),
    (cx.ServerConnectionError, TransportPhase.AFTER_SEND),
    (cx.ClientConnectionError, TransportPhase.AFTER_SEND),
    (asyncio.TimeoutError, TransportPhase.AFTER_SEND),  # the total timeout: assume it may have gone
    (ConnectionError, TransportPhase.AFTER_SEND),
)


def failure_phase(exc: BaseException) -> TransportPhase | None:
    """The phase a transport exception belongs to, or None when it is not a transport failure."""
    for exc_type, phase in _PHASES:
        if isinstance(exc, exc_type):
            return phase
    if isinstance(exc, cx.ClientError):
        return TransportPhase.AFTER_SEND  # an aiohttp error we have not met: never assume "unsent"
    return None


async def read_capped(content: aiohttp.StreamReader, cap_bytes: int) -> bytes:
    """The answer body up to its end or ``cap_bytes``, whichever comes first. One ``read(n)``
    returns what has arrived so far, which for an answer split over several packets is only its
    start."""
    chunks: list[bytes] = []
    left = cap_bytes
    while left > 0:
        chunk = await content.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


@functools.lru_cache(maxsize=64)
def timeout_for(total_s: float) -> aiohttp.ClientTimeout:
    """The timeouts of one send: connect within a third of the budget, the whole within it (one
    immutable object per budget, not one per send)."""
    connect_s = max(min(total_s / 3, 10.0), 0.05)
    return aiohttp.ClientTimeout(total=total_s, sock_connect=connect_s, sock_read=total_s)


async def exchange(
    session: aiohttp.ClientSession,
    request: HttpRequest,
    *,
    timeout_s: float,
    body_cap_bytes: int = BODY_CAP_BYTES,
) -> HttpAnswer | TransportFailure:
    """Send ``request`` and read at most ``body_cap_bytes`` of the answer."""
    try:
        async with session.request(
            request.method,
            request.url,
            headers=dict(request.headers),
            json=request.json if request.form is None else None,
            data=dict(request.form) if request.form is not None else None,
            timeout=timeout_for(timeout_s),
            allow_redirects=False,
        ) as response:
            body = await read_capped(response.content, body_cap_bytes)
            truncated = not response.content.at_eof()
            return HttpAnswer(
                status=response.status,
                headers=dict(response.headers),
                body=body,
                truncated=truncated,
            )
    except (TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
        phase = failure_phase(exc)
        assert phase is not None  # every class caught above has a phase
        return TransportFailure(phase=phase, error=type(exc).__name__)


@dataclass(frozen=True, slots=True)
class SendOutcome:
    """The verdict of one send, with the HTTP status of the answer it came from (if any)."""

    verdict: Verdict
    http_status: int | None


_AUTH_STEPS = 4  # session credentials take at most this many requests (YellowPush: two)


_SESSION_AUTH_CLASSES: dict[type, bool] = {}


def session_auth(provider: Provider) -> SessionAuth | None:
    """``provider`` as a :class:`SessionAuth` when it is one. A runtime protocol check costs
    tens of microseconds, so it is made once per adapter class."""
    cls = type(provider)
    known = _SESSION_AUTH_CLASSES.get(cls)
    if known is None:
        known = _SESSION_AUTH_CLASSES[cls] = isinstance(provider, SessionAuth)
    return provider if known else None  # type: ignore[return-value]


def conversation_budget_s(provider: Provider) -> float:
    """The longest one send may take: auth requests and a refreshed retry included."""
    return provider.timeout_s * (3 if session_auth(provider) is not None else 1)


async def _authenticate(
    session: aiohttp.ClientSession, provider: SessionAuth, timeout_s: float
) -> SendOutcome | None:
    for _ in range(_AUTH_STEPS):
        request = provider.auth_request()
        if request is None:
            return None
        answer = await exchange(session, request, timeout_s=timeout_s)
        if isinstance(answer, TransportFailure):
            # An auth request carries no SMS: whatever happened to it, a retry duplicates nothing.
            return SendOutcome(
                Verdict(OutcomeKind.RETRYABLE, Scope.PROVIDER, reason=f"auth {answer.error}"),
                None,
            )
        verdict = provider.read_auth_answer(answer)
        if verdict is not None:
            return SendOutcome(verdict, answer.status)
    return SendOutcome(
        Verdict(OutcomeKind.PROVIDER_ERROR, Scope.PROVIDER, reason="auth did not settle"), None
    )


async def _exchange_in_session(
    session: aiohttp.ClientSession, provider: Provider, build: Callable[[], HttpRequest]
) -> HttpAnswer | TransportFailure | SendOutcome:
    """The request ``build`` makes (after ``provider``'s session credential is fetched, where it
    needs one), and after a 401 with such a credential, the same once more with a fresh one:
    the answer, the transport failure, or the outcome of a session fetch that failed."""
    auth = session_auth(provider)
    for first_try in (True, False):
        if auth is not None:
            failed = await _authenticate(session, auth, provider.timeout_s)
            if failed is not None:
                return failed
        answer = await exchange(session, build(), timeout_s=provider.timeout_s)
        if (
            isinstance(answer, HttpAnswer)
            and answer.status == 401
            and auth is not None
            and first_try
        ):
            auth.forget_auth()
            continue
        return answer
    raise AssertionError("unreachable: the second try always returns")


async def send_through(
    session: aiohttp.ClientSession, provider: Provider, sms: OutboundSms
) -> SendOutcome:
    """Send ``sms`` through ``provider``: fetch its session credential first where it needs one,
    and after a 401 to the send, forget it and try once more. Classification included."""
    answer = await _exchange_in_session(session, provider, lambda: provider.build_send(sms))
    if isinstance(answer, SendOutcome):
        return answer
    if isinstance(answer, TransportFailure):
        return SendOutcome(classify_transport(answer), None)
    return SendOutcome(provider.read_send_answer(answer), answer.status)


@dataclass(frozen=True, slots=True)
class StatusLookup:
    """What a status lookup learnt: the provider's report, or why there is none (the lookup
    failed, or its answer could not be read)."""

    report: DeliveryReport | None
    failure: str | None = None


async def look_up_status(
    session: aiohttp.ClientSession, provider: Provider, provider_message_id: str
) -> StatusLookup:
    """Ask ``provider`` (a :class:`StatusPolling` adapter) what became of the message it
    accepted as ``provider_message_id``: its session credential fetched first where it needs
    one, and after a 401, forgotten and fetched again once."""
    assert isinstance(provider, StatusPolling)
    answer = await _exchange_in_session(
        session, provider, lambda: provider.build_status_query(provider_message_id)
    )
    if isinstance(answer, SendOutcome):
        return StatusLookup(None, answer.verdict.reason or "auth failed")
    if isinstance(answer, TransportFailure):
        return StatusLookup(None, answer.error)
    report = provider.read_status_answer(answer)
    if report is None:
        return StatusLookup(None, f"http_{answer.status}" if answer.status != 200 else "unread")
    return StatusLookup(report)


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What asking a provider for a message by our reference came to: ``found`` (with its id
    there), ``not_found``, or ``lookup_failed`` (with why)."""

    outcome: Literal["found", "not_found", "lookup_failed"]
    provider_message_id: str | None = None
    reason: str | None = None


async def look_up_reference(
    session: aiohttp.ClientSession, provider: Provider, client_reference: str, since_ms: int
) -> Reconciliation:
    """Ask ``provider`` (a :class:`ReferenceLookup` adapter) whether it has a message sent with
    ``client_reference`` at or after ``since_ms``."""
    assert isinstance(provider, ReferenceLookup)
    request = provider.build_reference_query(client_reference, since_ms=since_ms)
    answer = await exchange(session, request, timeout_s=provider.timeout_s)
    if isinstance(answer, TransportFailure):
        return Reconciliation("lookup_failed", reason=answer.error)
    search = provider.read_reference_answer(answer, client_reference)
    if search is None:
        return Reconciliation("lookup_failed", reason=f"http_{answer.status}")
    if search.found:
        return Reconciliation("found", search.provider_message_id)
    return Reconciliation("not_found")
