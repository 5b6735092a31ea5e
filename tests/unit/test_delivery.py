"""The decisions after an attempt, and before one."""

from __future__ import annotations

import pytest

from dispatcher.delivery import Decision, FinalReason, SendPlan, decide_after_attempt, plan_send
from dispatcher.policy import RetryPolicy
from dispatcher.records import MessageRecord
from dispatcher.states import MessageState
from providers.outcome import OutcomeKind, Scope, Verdict

NOW = 1_000_000
POLICY = RetryPolicy(base_s=1, cap_s=8, max_attempts=3)
S = MessageState


def decide(
    kind: OutcomeKind,
    *,
    attempts: int = 1,
    valid_for_ms: int = 3_600_000,
    retry_after: float | None = None,
    on_ambiguous: str = "retry",
    draw: float = 0.5,
) -> Decision:
    return decide_after_attempt(
        Verdict(
            kind,
            Scope.PROVIDER,
            reason="r",
            retry_after_s=retry_after,
            provider_message_id="B1" if kind is OutcomeKind.ACCEPTED else None,
        ),
        attempts_made=attempts,
        now_ms=NOW,
        valid_until_ms=NOW + valid_for_ms,
        policy=POLICY,
        on_ambiguous=on_ambiguous,  # type: ignore[arg-type]
        rand=lambda: draw,
    )


@pytest.mark.parametrize(
    ("kind", "state", "reason", "action"),
    [
        (OutcomeKind.ACCEPTED, S.ACCEPTED, None, "none"),
        (OutcomeKind.REJECTED, S.FAILED, FinalReason.REJECTED, "dead_letter"),
        (OutcomeKind.PROVIDER_ERROR, S.FAILED, FinalReason.PROVIDER_ERROR, "dead_letter"),
        (OutcomeKind.RETRYABLE, S.RETRY_SCHEDULED, None, "retry"),
        (OutcomeKind.AMBIGUOUS, S.RETRY_SCHEDULED, None, "retry"),
    ],
)
def test_first_attempt(
    kind: OutcomeKind, state: MessageState, reason: FinalReason | None, action: str
) -> None:
    """Each outcome class leads to its state; failures are dead-lettered."""
    decision = decide(kind)
    assert (decision.state, decision.reason, decision.action) == (state, reason, action)


def test_accepted_keeps_the_provider_id() -> None:
    """The provider's message id is written with the accepted state."""
    assert decide(OutcomeKind.ACCEPTED).changes("sinch")["provider_message_id"] == "B1"


def test_retry_delay_follows_the_policy() -> None:
    """Second retry: ceiling 2 s, half drawn: due 1 s later."""
    decision = decide(OutcomeKind.RETRYABLE, attempts=2, draw=0.5)
    assert decision.retry_at_ms == NOW + 1000


def test_retry_after_is_honoured() -> None:
    """A Retry-After longer than the jittered delay sets the due time."""
    assert decide(OutcomeKind.RETRYABLE, retry_after=2, draw=0.1).retry_at_ms == NOW + 2000


def test_attempts_exhausted() -> None:
    """After max_attempts, a retryable answer dead-letters the message."""
    decision = decide(OutcomeKind.RETRYABLE, attempts=3)
    assert (decision.state, decision.reason) == (S.FAILED, FinalReason.ATTEMPTS_EXHAUSTED)


def test_next_attempt_past_validity_expires() -> None:
    """A retry that would fall after the validity ends the message expired instead."""
    decision = decide(OutcomeKind.RETRYABLE, valid_for_ms=400, draw=0.5)  # delay 500 ms
    assert (decision.state, decision.reason) == (S.EXPIRED, FinalReason.EXPIRED)
    assert decision.action == "dead_letter"


def test_ambiguous_retry_is_flagged() -> None:
    """A retried ambiguous attempt marks the message as a possible duplicate."""
    decision = decide(OutcomeKind.AMBIGUOUS)
    assert decision.possible_duplicate
    assert decision.changes("sinch")["possible_duplicate"] == "1"


def test_ambiguous_dead_letter_when_configured() -> None:
    """on_ambiguous = dead_letter: no retry, dead-lettered for a person to decide."""
    decision = decide(OutcomeKind.AMBIGUOUS, on_ambiguous="dead_letter")
    assert (decision.state, decision.reason) == (S.FAILED, FinalReason.AMBIGUOUS)
    assert decision.possible_duplicate


def record(valid_until_ms: int) -> MessageRecord:
    return MessageRecord(
        id="01X",
        to="+14155552671",
        body="x",
        sender=None,
        priority="normal",
        encoding="GSM-7",
        segments=1,
        state=S.QUEUED,
        created_at_ms=0,
        updated_at_ms=0,
        valid_until_ms=valid_until_ms,
    )


def test_plan_send() -> None:
    """Send through the first provider; expired or unroutable messages end before a send."""
    assert plan_send(record(NOW + 1), ("a", "b"), NOW) == SendPlan("a")
    expired = plan_send(record(NOW), ("a",), NOW)
    assert isinstance(expired, Decision)
    assert expired.state is S.EXPIRED
    unroutable = plan_send(record(NOW + 1), (), NOW)
    assert isinstance(unroutable, Decision)
    assert unroutable.reason is FinalReason.NO_PROVIDER
