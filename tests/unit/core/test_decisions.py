"""The decisions after an attempt, and before one."""

from __future__ import annotations

import pytest

from dispatcher.core.decisions import (
    Decision,
    FinalReason,
    SendPlan,
    decide_after_attempt,
    plan_send,
    wait_for_provider,
)
from dispatcher.core.message_record import MessageRecord
from dispatcher.core.retry_policy import RetryPolicy
from dispatcher.core.states import MessageState
from providers.outcome import OutcomeKind, Scope, Verdict
from tests.message_records import a_record

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
    return a_record("01X", body="x", valid_until_ms=valid_until_ms)


def test_plan_send() -> None:
    """Send through the route in order; expired or unroutable messages end before a send."""
    assert plan_send(record(NOW + 1), ("a", "b"), NOW) == SendPlan(("a", "b"))
    expired = plan_send(record(NOW), ("a",), NOW)
    assert isinstance(expired, Decision)
    assert expired.state is S.EXPIRED
    unroutable = plan_send(record(NOW + 1), (), NOW)
    assert isinstance(unroutable, Decision)
    assert unroutable.reason is FinalReason.NO_PROVIDER


# --- failover -------------------------------------------------------------------------------


def after(
    kind: OutcomeKind,
    *,
    next_provider: str | None = "backup",
    in_a_row: int = 1,
    budget: int = 2,
    attempts: int = 1,
) -> Decision:
    return decide_after_attempt(
        Verdict(kind, Scope.PROVIDER, reason="r"),
        attempts_made=attempts,
        now_ms=NOW,
        valid_until_ms=NOW + 3_600_000,
        policy=POLICY,
        rand=lambda: 0.5,
        next_provider=next_provider,
        provider_attempts=in_a_row,
        attempts_before_failover=budget,
    )


def test_provider_error_fails_over_at_once() -> None:
    """A provider_error moves the message to the next provider now, not after a backoff."""
    decision = after(OutcomeKind.PROVIDER_ERROR)
    assert (decision.state, decision.failover_to, decision.retry_at_ms) == (
        S.RETRY_SCHEDULED,
        "backup",
        NOW,
    )


def test_provider_error_on_the_last_provider_is_final() -> None:
    """With no provider left in the route, a provider_error dead-letters the message."""
    decision = after(OutcomeKind.PROVIDER_ERROR, next_provider=None)
    assert (decision.state, decision.reason) == (S.FAILED, FinalReason.PROVIDER_ERROR)


def test_rejected_never_fails_over() -> None:
    """A message the provider rejected would be rejected anywhere: no failover."""
    decision = after(OutcomeKind.REJECTED)
    assert (decision.state, decision.failover_to) == (S.FAILED, None)


@pytest.mark.parametrize(
    ("in_a_row", "expected_failover"),
    [(1, None), (2, "backup"), (3, "backup")],
)
def test_retryable_stays_until_the_budget_is_spent(
    in_a_row: int, expected_failover: str | None
) -> None:
    """Retryable answers retry on the same provider up to its budget, then move on at once."""
    decision = after(OutcomeKind.RETRYABLE, in_a_row=in_a_row, budget=2)
    assert decision.state is S.RETRY_SCHEDULED
    assert decision.failover_to == expected_failover
    if expected_failover is None:
        assert decision.retry_at_ms is not None
        assert decision.retry_at_ms > NOW


def test_last_provider_keeps_retrying_past_its_budget() -> None:
    """With nowhere to go, the last provider keeps its retries until the attempts run out."""
    decision = after(OutcomeKind.RETRYABLE, next_provider=None, in_a_row=5, budget=2)
    assert (decision.state, decision.failover_to) == (S.RETRY_SCHEDULED, None)


def test_failover_respects_the_attempt_budget() -> None:
    """No failover once the message has used all its attempts."""
    decision = after(OutcomeKind.PROVIDER_ERROR, attempts=POLICY.max_attempts)
    assert (decision.state, decision.reason) == (S.FAILED, FinalReason.PROVIDER_ERROR)


def test_ambiguous_failover_is_flagged() -> None:
    """Moving an ambiguous message to another provider may send it twice: it is flagged."""
    decision = after(OutcomeKind.AMBIGUOUS, in_a_row=2, budget=2)
    assert decision.failover_to == "backup"
    assert decision.possible_duplicate


def test_plan_skips_providers_the_message_left() -> None:
    """The next attempt goes to the first provider of the route not left behind."""
    record = a_record(
        "m",
        at_ms=NOW,
        body="x",
        state=S.RETRY_SCHEDULED,
        valid_until_ms=NOW + 1000,
        providers_left=("sinch",),
    )
    assert plan_send(record, ("sinch", "twilio"), NOW) == SendPlan(("twilio",))
    decision = plan_send(record, ("sinch",), NOW)
    assert isinstance(decision, Decision)
    assert decision.reason is FinalReason.NO_PROVIDER


# --- waiting for a provider -------------------------------------------------------------------


def test_wait_for_provider_keeps_the_attempts_and_expires_past_the_validity() -> None:
    waiting = wait_for_provider(NOW + 10_000, NOW + 2_000, "sinch open")
    assert (waiting.state, waiting.retry_at_ms, waiting.action) == (
        S.RETRY_SCHEDULED,
        NOW + 2_000,
        "retry",
    )
    assert waiting.changes(None) == {
        "state": "retry_scheduled",
        "next_attempt_at_ms": str(NOW + 2_000),
    }
    too_late = wait_for_provider(NOW + 10_000, NOW + 10_000, "sinch open")
    assert (too_late.state, too_late.reason) == (S.EXPIRED, FinalReason.EXPIRED)
    assert "sinch open" in (too_late.detail or "")
