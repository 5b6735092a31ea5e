"""The provider protocol and the plain data that crosses it.

An adapter knows its provider's HTTP API and documents, nothing of Celery or Redis: it builds the
request for one SMS and reads the answer into a :class:`~providers.outcome.Verdict`. The transport
(:mod:`providers.transport`) performs the request; the dispatcher decides what happens next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from providers.outcome import Verdict

__all__ = ["HttpAnswer", "HttpRequest", "OutboundSms", "Provider"]


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

    def build_send(self, sms: OutboundSms) -> HttpRequest:
        """The request that sends ``sms``."""
        ...

    def read_send_answer(self, answer: HttpAnswer) -> Verdict:
        """Classify the provider's answer to a send; an accepted verdict carries its message id."""
        ...

    def redacted_secrets(self) -> tuple[str, ...]:
        """The secret values this adapter holds, so logs and errors can be scrubbed of them."""
        ...
