"""The one place that decides what happens to a message, before and after an attempt. Pure.

Before an attempt: a message past its validity is ``expired``; one with no usable provider is
``failed``; otherwise it is sent through the first provider of its route that it has not moved
away from.

After an attempt, by the verdict's class:

==================  =========================================================================
``accepted``        ``accepted``, with the provider's message id
``rejected``        ``failed`` and dead-lettered (permanent for the message: never fails over)
``provider_error``  fails over at once to the next provider of the route; with none left,
                    ``failed`` and dead-lettered
``retryable``       ``retry_scheduled`` after the policy's delay (``Retry-After`` as a floor) on
                    the same provider, until it has had its ``attempts_before_failover``; then
                    fails over at once to the next provider (the last one keeps retrying);
                    ``failed`` when the attempts are used up; ``expired`` when the next attempt
                    would fall after the message's validity
``ambiguous``       as ``retryable``, flagged ``possible_duplicate``, when the provider's
                    ``on_ambiguous`` is ``retry``; else ``failed`` and dead-lettered
==================  =========================================================================

Failing over is a retry due now, with the provider left behind for this message. Every
``failed`` and ``expired`` message is dead-lettered, but for one whose number opted out while it
waited (``failed``, reason ``opted_out``): the recipient asked for that, and there is nothing to
replay.

When no provider of the route can take the message now (circuit open, paused after a 429, rate
limit saturated), it waits in the delay queue until the earliest of them can, without using an
attempt (:func:`wait_for_provider`); ``expired`` if that is after its validity.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from dispatcher.core.message_record import MessageRecord
from dispatcher.core.retry_policy import RetryPolicy
from dispatcher.core.states import MessageState
from providers.outcome import OutcomeKind, Verdict

__all__ = [
    "Decision",
    "FinalReason",
    "SendPlan",
    "decide_after_attempt",
    "plan_send",
    "remaining_route",
    "wait_for_provider",
    "wait_for_quiet_hours",
]


class FinalReason(enum.StrEnum):
    """Why a message was dead-lettered."""

    REJECTED = "rejected"
    PROVIDER_ERROR = "provider_error"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    EXPIRED = "expired"
    AMBIGUOUS = "ambiguous"
    NO_PROVIDER = "no_enabled_provider"
    OPTED_OUT = "opted_out"  # the number opted out while the message waited: not sent
    QUIET_HOURS = "quiet_hours"  # its validity ended before the recipient's quiet hours did


@dataclass(frozen=True, slots=True)
class SendPlan:
    """Send now through the first of ``providers`` whose gates let the message through."""

    providers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """The state a message moves to, and why."""

    state: MessageState
    reason: FinalReason | None = None
    detail: str | None = None
    provider_message_id: str | None = None
    retry_at_ms: int | None = None
    possible_duplicate: bool = False
    failover_to: str | None = None  # the provider the next attempt goes to, moving off this one

    @property
    def action(self) -> Literal["none", "retry", "dead_letter"]:
        """What the store does besides writing the fields."""
        if self.state is MessageState.RETRY_SCHEDULED:
            return "retry"
        if self.reason is FinalReason.OPTED_OUT:
            return "none"  # what the recipient asked for, nothing to replay
        if self.state in (MessageState.FAILED, MessageState.EXPIRED):
            return "dead_letter"
        return "none"

    def changes(self, provider: str | None) -> dict[str, str]:
        """The record fields this decision writes."""
        fields = {"state": self.state.value}
        optional = {
            "provider": provider,
            "provider_message_id": self.provider_message_id,
            "final_reason": self.reason.value if self.reason else None,
            "final_detail": self.detail,
            "next_attempt_at_ms": None if self.retry_at_ms is None else str(self.retry_at_ms),
        }
        fields.update({k: v for k, v in optional.items() if v is not None})
        if self.possible_duplicate:
            fields["possible_duplicate"] = "1"
        return fields


def remaining_route(record: MessageRecord, route: tuple[str, ...]) -> tuple[str, ...]:
    """The providers of ``route`` the message has not moved away from, in order."""
    return tuple(name for name in route if name not in record.providers_left)


def plan_send(record: MessageRecord, route: tuple[str, ...], now_ms: int) -> SendPlan | Decision:
    """Before an attempt: the providers of the route the message has not left, in order, or the
    end of the message."""
    route = remaining_route(record, route)
    if now_ms >= record.valid_until_ms:
        return Decision(
            MessageState.EXPIRED,
            FinalReason.EXPIRED,
            detail="the validity passed before the next attempt",
        )
    if not route:
        return Decision(
            MessageState.FAILED,
            FinalReason.NO_PROVIDER,
            detail="no enabled provider serves this destination",
        )
    return SendPlan(route)


def wait_for_provider(valid_until_ms: int, until_ms: int, why: str) -> Decision:
    """No provider of the route can take the message before ``until_ms``: wait for it in the
    delay queue (no attempt used), or expire if that is past the validity."""
    if until_ms >= valid_until_ms:
        return Decision(
            MessageState.EXPIRED,
            FinalReason.EXPIRED,
            detail=f"no provider could take it before its validity ended ({why})",
        )
    return Decision(MessageState.RETRY_SCHEDULED, retry_at_ms=until_ms)


def wait_for_quiet_hours(valid_until_ms: int, until_ms: int) -> Decision:
    """A marketing message due inside its recipient's quiet hours waits in the delay queue
    until they end (no attempt used), or expires, reason ``quiet_hours``, when its validity ends
    first (``until_ms`` -1: they never end for all the number's zones at once)."""
    if until_ms < 0 or until_ms >= valid_until_ms:
        return Decision(
            MessageState.EXPIRED,
            FinalReason.QUIET_HOURS,
            detail="its validity ended before the recipient's quiet hours did",
        )
    return Decision(MessageState.RETRY_SCHEDULED, retry_at_ms=until_ms)


def decide_after_attempt(
    verdict: Verdict,
    *,
    attempts_made: int,
    now_ms: int,
    valid_until_ms: int,
    policy: RetryPolicy,
    on_ambiguous: Literal["retry", "dead_letter"] = "retry",
    rand: Callable[[], float] = random.random,
    next_provider: str | None = None,
    provider_attempts: int = 1,
    attempts_before_failover: int = 3,
) -> Decision:
    """After the ``attempts_made``-th attempt (the ``provider_attempts``-th in a row on this
    provider) came to ``verdict``: what next. ``next_provider`` is the route's next provider the
    message has not left, if any."""
    detail = _detail(verdict)
    kind = verdict.kind
    if kind is OutcomeKind.ACCEPTED:
        return Decision(MessageState.ACCEPTED, provider_message_id=verdict.provider_message_id)
    if kind is OutcomeKind.REJECTED:
        return Decision(MessageState.FAILED, FinalReason.REJECTED, detail)
    ambiguous = kind is OutcomeKind.AMBIGUOUS
    if kind is OutcomeKind.PROVIDER_ERROR:
        if next_provider is None or not policy.has_attempts_left(attempts_made):
            return Decision(MessageState.FAILED, FinalReason.PROVIDER_ERROR, detail)
        return _fail_over(next_provider, now_ms, possible_duplicate=False)
    if ambiguous and on_ambiguous == "dead_letter":
        return Decision(MessageState.FAILED, FinalReason.AMBIGUOUS, detail, possible_duplicate=True)
    budget_spent = provider_attempts >= attempts_before_failover
    if next_provider is not None and budget_spent and policy.has_attempts_left(attempts_made):
        return _fail_over(next_provider, now_ms, possible_duplicate=ambiguous)
    if not policy.has_attempts_left(attempts_made):
        return Decision(
            MessageState.FAILED,
            FinalReason.ATTEMPTS_EXHAUSTED,
            f"{attempts_made} attempts; last: {detail}",
            possible_duplicate=ambiguous,
        )
    delay_s = policy.delay_s(attempts_made, retry_after_s=verdict.retry_after_s, rand=rand)
    retry_at_ms = now_ms + int(delay_s * 1000)
    if retry_at_ms >= valid_until_ms:
        return Decision(
            MessageState.EXPIRED,
            FinalReason.EXPIRED,
            f"the next attempt (in {delay_s:.1f} s) would fall after the validity; last: {detail}",
            possible_duplicate=ambiguous,
        )
    return Decision(
        MessageState.RETRY_SCHEDULED,
        retry_at_ms=retry_at_ms,
        possible_duplicate=ambiguous,
    )


def _fail_over(next_provider: str, now_ms: int, *, possible_duplicate: bool) -> Decision:
    """A retry due now on ``next_provider`` (the attempt records why; the message is not final)."""
    return Decision(
        MessageState.RETRY_SCHEDULED,
        retry_at_ms=now_ms,
        possible_duplicate=possible_duplicate,
        failover_to=next_provider,
    )


def _detail(verdict: Verdict) -> str:
    code = f" [{verdict.provider_code}]" if verdict.provider_code else ""
    return f"{verdict.kind.value}: {verdict.reason}{code}"
