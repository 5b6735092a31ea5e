"""The provider protocol and the plain data that crosses it.

An adapter knows its provider's HTTP API and documents, nothing of Celery or Redis: it builds the
request for one SMS and reads the answer into a :class:`~providers.outcome.Verdict`. The transport
(:mod:`providers.transport`) performs the request; the dispatcher decides what happens next.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar, runtime_checkable

from providers.outcome import Verdict

__all__ = [
    "AdapterSettings",
    "ConfiguredAdapter",
    "DeliveryReport",
    "HttpAnswer",
    "HttpRequest",
    "InboundAnswer",
    "InboundMessages",
    "InboundReport",
    "InboundSms",
    "OutboundSms",
    "Provider",
    "ReferenceLookup",
    "ReferenceSearch",
    "ReportStatus",
    "SessionAuth",
    "SignedReports",
    "StatusPolling",
    "e164_of",
    "json_object",
    "report_status",
]


@dataclass(frozen=True, slots=True)
class OutboundSms:
    """One SMS as an adapter needs it: already validated and normalised."""

    message_id: str  # ours; travels as the provider's client reference where it has one
    to_e164: str  # "+14155552671"
    body: str
    sender: str | None
    encoding: str  # "GSM-7" or "UCS-2"
    segments: int
    valid_until_ms: int | None = (
        None  # epoch milliseconds; the provider's expiry where it takes one
    )


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """A request an adapter wants sent. Exactly one of ``json`` and ``form`` may be set."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    form: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What came back: status, headers and at most the transport's body cap of bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool = False


ReportStatus = Literal["delivered", "undelivered", "pending"]


@dataclass(frozen=True, slots=True)
class InboundReport:
    """A provider's callback as it arrived (a delivery report, an inbound text): raw body,
    content type, query and headers."""

    body: bytes
    content_type: str = "application/json"
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str = ""


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """What a provider says became of a message after it accepted it."""

    status: ReportStatus  # delivered / undelivered are final; pending is intermediate
    provider_status: str  # the provider's own word for it ("Delivered", "4", "EXPIRED", ...)
    provider_message_id: str | None = None
    client_reference: str | None = None  # our message id, where the provider echoes it
    reason: str | None = None  # the provider's error code or text when undelivered
    recipient: str | None = None
    # Undelivered for a reason the provider documents as temporary (the handset unreachable
    # for now, a network error): another provider may still get it through. Unknown or barred
    # numbers, and reasons not documented, are not.
    temporary: bool = False


@dataclass(frozen=True, slots=True)
class InboundSms:
    """A text someone sent to one of our numbers (mobile-originated), as the provider posted it."""

    provider_message_id: str
    from_number: str  # the sender, E.164 with its + (as the provider gave it, normalised)
    to: str  # our number or short code it was sent to
    text: str
    received_at_ms: int | None = None  # when the provider says it received it, if it says
    # One part of a long text the provider posts part by part: (reference, part, parts).
    part: tuple[str, int, int] | None = None


@dataclass(frozen=True, slots=True)
class InboundAnswer:
    """What to answer a provider's inbound post with."""

    status: int = 200
    content_type: str = "application/json"
    body: bytes = b"{}"


def e164_of(number: str) -> str:
    """A number a provider posts without its + (``447700900001``) as E.164; a short code or a
    name as it is."""
    digits = number.strip().lstrip("+")
    return "+" + digits if digits.isdigit() and len(digits) > 6 else number.strip()


def report_status(word: str, *, delivered: frozenset[str], pending: frozenset[str]) -> ReportStatus:
    """A provider's status word (any case) as ours: delivered, pending, or else undelivered."""
    upper = word.upper()
    if upper in delivered:
        return "delivered"
    return "pending" if upper in pending else "undelivered"


def json_object(body: bytes) -> dict[str, Any] | None:
    """``body`` as a JSON object, or None when it is empty, not JSON, or not an object."""
    if not body:
        return None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None


class AdapterSettings(Protocol):
    """What every adapter's settings carry."""

    @property
    def name(self) -> str: ...

    @property
    def timeout_s(self) -> float: ...


_S = TypeVar("_S", bound=AdapterSettings)


class ConfiguredAdapter(Generic[_S]):
    """The ``name`` and ``timeout_s`` of :class:`Provider`, read from the adapter's settings.

    ``counts_segments`` says whether the provider's throughput limit counts message parts rather
    than requests (the shared rate limit then charges a message its segments).

    ``reports_carry_reference`` says whether the provider's documents promise that its delivery
    reports echo our message id: such a provider's message ids need no index to find the message
    a report is about.
    """

    _settings: _S
    counts_segments: bool = False
    reports_carry_reference: bool = False

    @property
    def name(self) -> str:
        return self._settings.name

    @property
    def timeout_s(self) -> float:
        return self._settings.timeout_s


@runtime_checkable
class Provider(Protocol):
    """An SMS provider adapter."""

    @property
    def name(self) -> str:
        """The configured name of this provider (the key in config, e.g. ``sinch``)."""
        ...

    @property
    def timeout_s(self) -> float:
        """The whole-request timeout for one send."""
        ...

    @property
    def counts_segments(self) -> bool:
        """Whether the provider's throughput limit counts message parts rather than requests
        (the shared rate limit then charges a message its segments)."""
        ...

    @property
    def reports_carry_reference(self) -> bool:
        """Whether the provider's documents promise that its delivery reports echo our message
        id (its message ids then need no index to find the message a report is about)."""
        ...

    def build_send(self, sms: OutboundSms) -> HttpRequest:
        """The request that sends ``sms``."""
        ...

    def read_send_answer(self, answer: HttpAnswer) -> Verdict:
        """Classify the provider's answer to a send; an accepted verdict carries its message id."""
        ...

    def read_delivery_report(self, report: InboundReport) -> list[DeliveryReport]:
        """The delivery reports in one callback (empty when the body is not one of ours)."""
        ...

    def redacted_secrets(self) -> tuple[str, ...]:
        """The secret values this adapter holds, so logs and errors can be scrubbed of them."""
        ...


@runtime_checkable
class SessionAuth(Protocol):
    """A provider whose sends need a session credential fetched first (and refreshed on 401).

    The transport asks :meth:`auth_request` for the next request to make until it returns None,
    feeding each answer to :meth:`read_auth_answer`; a 401 to a send makes it call
    :meth:`forget_auth` and try the send once more. Called on the worker's loop thread only.
    """

    def auth_request(self) -> HttpRequest | None:
        """The next request needed before a send, or None when the credential is at hand."""
        ...

    def read_auth_answer(self, answer: HttpAnswer) -> Verdict | None:
        """Keep what the answer brings; a verdict when it failed (the send is not tried)."""
        ...

    def forget_auth(self) -> None:
        """Drop the cached credential."""
        ...


@runtime_checkable
class SignedReports(Protocol):
    """A provider that signs its delivery-report callbacks (else they carry a secret in the URL)."""

    @property
    def signs_reports(self) -> bool:
        """Whether this provider's callbacks are signed as configured (and must be checked)."""
        ...

    def verify_report(self, report: InboundReport) -> bool:
        """Whether ``report`` carries a valid signature (``report.url``: the URL it was posted to,
        as the provider called it)."""
        ...


@runtime_checkable
class InboundMessages(Protocol):
    """A provider that posts the texts people send to our numbers, in a format it documents."""

    def read_inbound(self, report: InboundReport) -> list[InboundSms]:
        """The texts in one inbound post (none when it is not one in this provider's format)."""
        ...

    def verify_inbound(self, report: InboundReport) -> bool | None:
        """Whether the post carries a valid signature; None when this provider (as configured)
        does not sign them, and its inbound URL carries the deployment's token instead."""
        ...

    def inbound_answer(self) -> InboundAnswer:
        """What the provider expects back when the post was taken."""
        ...


@runtime_checkable
class StatusPolling(Protocol):
    """A provider whose delivery status is read by asking, not by callback."""

    def build_status_query(self, provider_message_id: str) -> HttpRequest: ...

    def read_status_answer(self, answer: HttpAnswer) -> DeliveryReport | None: ...


@dataclass(frozen=True, slots=True)
class ReferenceSearch:
    """What a search by our reference found: whether the provider has the message, and its id
    for it."""

    found: bool
    provider_message_id: str | None = None


@runtime_checkable
class ReferenceLookup(Protocol):
    """A provider that can be asked whether it has a message, by the reference we sent it with
    (our message id): asked before a message that may have reached it is sent again."""

    def build_reference_query(self, client_reference: str, *, since_ms: int) -> HttpRequest:
        """The search for messages sent with ``client_reference`` at or after ``since_ms``."""
        ...

    def read_reference_answer(
        self, answer: HttpAnswer, client_reference: str
    ) -> ReferenceSearch | None:
        """What the search found; None when its answer says nothing (an error, a bad body)."""
        ...
