"""Outcome classes and the pure classification of a provider's answer.

Every answer a provider gives (or fails to give) becomes one :class:`Verdict`:

- ``accepted``: 2xx and the body agrees (where a provider reports failures inside a 200, the
  adapter's body rules decide).
- ``retryable``: 408, 429, 500, 502, 503, 504, 523, a connection refused or reset before the request
  was sent, a connect timeout. ``Retry-After`` is read when present.
- ``ambiguous``: the request may have reached the provider but no answer came back (read timeout,
  connection lost after sending).
- ``rejected``: permanent for the message (a 400-class answer about the message itself).
- ``provider_error``: permanent for that provider (401, 403 account, 404 path, 405, 415).

Unknown 5xx are retryable, unknown 4xx rejected. Nothing here does I/O.
"""

from __future__ import annotations

import email.utils
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = [
    "PROVIDER_FAULT",
    "REJECT",
    "RETRY",
    "OutcomeKind",
    "Rule",
    "Scope",
    "TransportFailure",
    "TransportPhase",
    "Verdict",
    "classify_error",
    "classify_status",
    "classify_transport",
    "id_or_ambiguous",
    "parse_retry_after_s",
]


class OutcomeKind(enum.StrEnum):
    """What one attempt at a provider came to."""

    ACCEPTED = "accepted"
    RETRYABLE = "retryable"
    AMBIGUOUS = "ambiguous"
    REJECTED = "rejected"
    PROVIDER_ERROR = "provider_error"


class Scope(enum.StrEnum):
    """Who a failure is about: the message itself, or the provider (account, path, outage)."""

    MESSAGE = "message"
    PROVIDER = "provider"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The classified answer of one attempt."""

    kind: OutcomeKind
    scope: Scope | None = None
    reason: str = ""
    retry_after_s: float | None = None
    provider_code: str | None = None
    provider_message_id: str | None = None

    @property
    def is_accepted(self) -> bool:
        return self.kind is OutcomeKind.ACCEPTED


class TransportPhase(enum.StrEnum):
    """How far a request got before the transport failed.

    The phase is what separates a safe retry (nothing reached the provider) from an ambiguous one
    (the provider may have the message).
    """

    BEFORE_SEND = "before_send"  # refused, DNS, TLS, connect timeout: the request never left
    AFTER_SEND = "after_send"  # read timeout, reset or truncation after the request was written


@dataclass(frozen=True, slots=True)
class TransportFailure:
    """No usable HTTP answer: what went wrong and how far the request got."""

    phase: TransportPhase
    error: str  # the exception's class name, never its message (it may hold a URL with a secret)
    detail: str = ""


_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 523})
_PROVIDER_STATUSES = frozenset({401, 403, 404, 405, 407, 415})


def classify_status(status: int, *, retry_after_s: float | None = None) -> Verdict:
    """Classify an HTTP status alone, for answers whose body says nothing more.

    Adapters call this after their body rules found no provider error code; a 403 here is taken as
    the provider refusing our account, since a 403 about the message carries a code in every seeded
    provider's documents.
    """
    if 200 <= status < 300:
        return Verdict(OutcomeKind.ACCEPTED, reason=f"http_{status}")
    if status in _RETRYABLE_STATUSES or status >= 500:
        return Verdict(
            OutcomeKind.RETRYABLE,
            Scope.PROVIDER,
            reason=f"http_{status}",
            retry_after_s=retry_after_s,
        )
    if status in _PROVIDER_STATUSES:
        return Verdict(OutcomeKind.PROVIDER_ERROR, Scope.PROVIDER, reason=f"http_{status}")
    # Every other 4xx (400, 409, 410, 413, 422, ...) and any status outside the HTTP range is
    # about what we sent: retrying the same request cannot help.
    return Verdict(OutcomeKind.REJECTED, Scope.MESSAGE, reason=f"http_{status}")


def classify_transport(failure: TransportFailure) -> Verdict:
    """Classify a request that got no HTTP answer."""
    if failure.phase is TransportPhase.BEFORE_SEND:
        return Verdict(OutcomeKind.RETRYABLE, Scope.PROVIDER, reason=failure.error)
    return Verdict(OutcomeKind.AMBIGUOUS, Scope.PROVIDER, reason=failure.error)


def parse_retry_after_s(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Read ``Retry-After`` as seconds to wait: delta-seconds or an HTTP date (RFC 9110 10.2.3).

    Returns None when the header is absent or unreadable; a date in the past gives 0.
    """
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isascii():
        return None  # delta-seconds are ASCII digits; str.isdigit also takes superscripts
    if raw.isdigit():
        return float(raw)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if math.isfinite(seconds):
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Rule:
    """What a provider's own error code means: the class and who it is about."""

    kind: OutcomeKind
    scope: Scope


REJECT = Rule(OutcomeKind.REJECTED, Scope.MESSAGE)
PROVIDER_FAULT = Rule(OutcomeKind.PROVIDER_ERROR, Scope.PROVIDER)
RETRY = Rule(OutcomeKind.RETRYABLE, Scope.PROVIDER)


def classify_error(
    status: int,
    headers: Mapping[str, str],
    *,
    rule: Rule | None,
    reason: str,
    provider_code: str | None,
) -> Verdict:
    """A failed answer: the provider's code rule where one applies, else the status alone."""
    retry_after_s = parse_retry_after_s(headers)
    if rule is not None:
        return Verdict(
            rule.kind,
            rule.scope,
            reason=reason,
            retry_after_s=retry_after_s if rule.kind is OutcomeKind.RETRYABLE else None,
            provider_code=provider_code,
        )
    by_status = classify_status(status, retry_after_s=retry_after_s)
    return Verdict(
        by_status.kind,
        by_status.scope,
        reason=reason,
        retry_after_s=by_status.retry_after_s,
        provider_code=provider_code,
    )


def id_or_ambiguous(status: int, provider_message_id: object) -> Verdict:
    """A success status: accepted with the provider's id, or ambiguous when the body gave none
    (the provider may have the message, and we cannot tell which). A 204 says "done, nothing to
    say": accepted without an id, since sending again would send twice."""
    if isinstance(provider_message_id, str) and provider_message_id:
        return Verdict(
            OutcomeKind.ACCEPTED, reason=f"http_{status}", provider_message_id=provider_message_id
        )
    if status == 204:
        return Verdict(OutcomeKind.ACCEPTED, reason="http_204_no_content")
    return Verdict(OutcomeKind.AMBIGUOUS, Scope.PROVIDER, reason=f"http_{status}_without_id")
