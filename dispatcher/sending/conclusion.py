"""The second half of a job's work: judge what the provider answered, report it to the
provider's gates, decide what follows, and record it.

The decisions themselves live in :mod:`dispatcher.core.decisions`; this module does the I/O
around them: the provider gates (:mod:`dispatcher.store.gates`: an attempt counted in the window,
the circuit moved, a 429 pausing the provider), the status store (the attempt and the new state
recorded while the lease is ours) and the logs. A message that ends before any send (expired, no
provider, waiting for one) is recorded here too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from dispatcher.core.circuit import CircuitState, circuit_class
from dispatcher.core.clock import now_ms
from dispatcher.core.decisions import Decision, decide_after_attempt, remaining_route
from dispatcher.core.delivery_health import country_calling_code
from dispatcher.core.masking import mask_number
from dispatcher.core.message_record import Attempt, MessageRecord, record_region
from dispatcher.core.pricing import PriceTable
from dispatcher.core.states import CALLBACK_STATES, MessageState
from dispatcher.logs import get_logger, scrub
from dispatcher.sending.pending_send import PendingSend
from dispatcher.sending.reconciliation import Reconciled
from dispatcher.sending.send_plan import ProviderPlan, SendPlans
from dispatcher.store.gates import ProviderGates
from dispatcher.store.message_counts import MessageCounts
from dispatcher.store.messages import Claim, Finish, MessageStore
from providers.outcome import OutcomeKind, Verdict
from providers.transport import SendOutcome

__all__ = ["Concluded", "Concluder"]


@dataclasses.dataclass(frozen=True, slots=True)
class Concluded:
    """A send judged: what to record for it, what was decided, through which provider."""

    finish: Finish
    decision: Decision
    provider: str | None


class Concluder:
    """Concludes sends and records them; safe to call from many threads at once."""

    def __init__(
        self,
        *,
        plans: SendPlans,
        store: MessageStore,
        gates: ProviderGates,
        counts: MessageCounts,
        prices: Mapping[str, PriceTable] | None = None,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._plans = plans
        self._store = store
        self._gates = gates
        self._counts = counts
        self._prices = prices or {}
        self._clock_ms = clock_ms

    def conclude(
        self,
        pending: PendingSend,
        outcome: SendOutcome,
        *,
        latency_ms: int,
        report_to_gates: bool = True,
    ) -> Concluded:
        """Judge what the provider answered: report it to the provider's gates and decide what
        follows (accepted, retry later, fail over, or dead letter); what to record is returned,
        for :meth:`record`. A caller trying again after a Redis error passes
        ``report_to_gates=False``, so the attempt counts once in the gates."""
        record = pending.claim.record
        assert record is not None
        provider = pending.provider.name
        # What the provider wrote is kept with the message and shown to operators: never with
        # the full number or a credential in it.
        verdict = dataclasses.replace(outcome.verdict, reason=scrub(outcome.verdict.reason))
        log = get_logger(
            message_id=record.id,
            task_id=pending.task_id,
            provider=provider,
            attempt=pending.attempt_number,
        )
        if report_to_gates:
            self._report(pending, verdict, outcome.http_status, latency_ms, log)
        attempt = _attempt(pending, verdict, outcome.http_status, latency_ms, self._cost(pending))
        log.info(
            "sms.attempt",
            outcome=verdict.kind.value,
            http_status=outcome.http_status,
            provider_code=verdict.provider_code,
            latency_ms=latency_ms,
            possible_duplicate=pending.possible_duplicate,
        )
        in_a_row = record.provider_attempts + 1 if record.provider == provider else 1
        decision = self._decide(pending, record, verdict, in_a_row)
        extra = {"provider_attempts": str(in_a_row), "slot_provider": "", "slot_at_ms": ""}
        if decision.failover_to is not None:
            attempt = dataclasses.replace(attempt, next_provider=decision.failover_to)
            extra["providers_left"] = ",".join((*record.providers_left, provider))
            log.warning(
                "sms.failed_over",
                outcome=verdict.kind.value,
                provider_code=verdict.provider_code,
                next_provider=decision.failover_to,
            )
        return self._concluded(pending.claim, decision, provider, attempt, extra)

    def _cost(self, pending: PendingSend) -> int:
        """What sending ``pending``'s message through its provider costs (micro-units)."""
        record = pending.claim.record
        assert record is not None
        table = self._prices.get(pending.provider.name)
        return table.cost(record.to, record.segments) if table else 0

    def _decide(
        self, pending: PendingSend, record: MessageRecord, verdict: Verdict, in_a_row: int
    ) -> Decision:
        """What follows the attempt of ``pending`` that came to ``verdict``."""
        provider = pending.provider.name
        plan = self._plans[provider]
        next_provider = next(
            (name for name in remaining_route(record, pending.order) if name != provider), None
        )
        return decide_after_attempt(
            verdict,
            attempts_made=pending.attempt_number,
            now_ms=self._clock_ms(),
            valid_until_ms=record.valid_until_ms,
            policy=plan.policy,
            on_ambiguous=plan.settings.on_ambiguous,
            next_provider=next_provider,
            provider_attempts=in_a_row,
            attempts_before_failover=plan.settings.attempts_before_failover,
        )

    def record(self, concluded: list[Concluded]) -> None:
        """Record many concluded sends in one round trip. Redis out of reach raises (try them
        all again); a script error for one is logged and leaves that message to its lease."""
        results = self._store.finish_many([c.finish for c in concluded])
        for one, result in zip(concluded, results, strict=True):
            if isinstance(result, Exception):
                record = one.finish.claim.record
                get_logger(message_id=record.id if record else None).error(
                    "sms.finish_failed", error=result.error
                )
            else:
                self._recorded(one, result)

    def record_one(self, concluded: Concluded) -> None:
        """Record one concluded send (a plain call: a pipeline costs more for one)."""
        self._recorded(concluded, self._store.apply_finish(concluded.finish))

    def record_without_send(
        self, claim: Claim, decision: Decision, extra: dict[str, str] | None = None
    ) -> None:
        """Record ``decision`` for a claimed message that ends, or waits, before any send."""
        self.record_one(self._concluded(claim, decision, None, None, extra))

    def record_found(self, claim: Claim, found: Reconciled) -> None:
        """Record a claimed message that asking found at a provider (by our reference):
        ``accepted`` with the provider's id for it, the finding as its attempt, nothing sent
        (and nothing counted in the provider's gates)."""
        record = claim.record
        assert record is not None
        attempt = Attempt(
            number=record.attempt_count + 1,
            provider=found.provider,
            started_at_ms=found.started_at_ms,
            latency_ms=found.latency_ms,
            outcome=OutcomeKind.ACCEPTED.value,
            reason="found at the provider by our reference: not sent again",
            provider_message_id=found.provider_message_id,
            reconciled="found",
        )
        decision = Decision(MessageState.ACCEPTED, provider_message_id=found.provider_message_id)
        extra = {"slot_provider": "", "slot_at_ms": ""}
        self.record_one(self._concluded(claim, decision, found.provider, attempt, extra))

    def _report(
        self,
        pending: PendingSend,
        verdict: Verdict,
        http_status: int | None,
        latency_ms: int,
        log: Any,
    ) -> None:
        """Count the attempt in the provider's gates; log a circuit that changed state."""
        move = self._gates.report(
            pending.provider.name,
            now_ms=self._clock_ms(),
            attempt_class=circuit_class(verdict.kind.value, http_status),
            latency_ms=latency_ms,
            probe=pending.admission.probe,
            reason=_detail_of(verdict, http_status),
            retry_after_s=verdict.retry_after_s,
            outcome=verdict.kind.value,
        )
        if http_status == 429:
            log.warning("provider.paused", retry_after_s=verdict.retry_after_s)
        if move.before == move.after:
            return
        if move.after is CircuitState.OPEN:
            log.warning("provider.circuit_opened", was=move.before.value, reason=move.reason)
        elif move.after is CircuitState.CLOSED:
            log.warning("provider.circuit_closed", was=move.before.value)

    def _concluded(
        self,
        claim: Claim,
        decision: Decision,
        provider: str | None,
        attempt: Attempt | None,
        extra: dict[str, str] | None = None,
    ) -> Concluded:
        """What to record for ``claim`` after ``decision`` (through ``provider``, if any)."""
        assert claim.record is not None
        changes = {**decision.changes(provider), **(extra or {})}
        if attempt is not None and attempt.possible_duplicate:
            changes["possible_duplicate"] = "1"
        accepted_id = (
            decision.provider_message_id if decision.state is MessageState.ACCEPTED else None
        )
        plan = self._plans.by_provider.get(provider) if provider else None
        if plan is not None and plan.reports_carry_reference:
            accepted_id = None  # its reports name our message id: no index needed
        now = self._clock_ms()
        accepted = decision.state is MessageState.ACCEPTED and plan is not None
        if accepted:
            # What its delivery report is counted by: the destination's country, the wait.
            changes["accepted_at_ms"] = str(now)
            changes["country_code"] = country_calling_code(claim.record.to)
        finish = Finish(
            claim,
            attempt,
            changes,
            now_ms=now,
            action=decision.action,
            score_ms=decision.retry_at_ms or now,
            provider_id=(provider, accepted_id) if provider and accepted_id else None,
            reached_state=decision.state.value if decision.state in CALLBACK_STATES else None,
            report_due_ms=now + plan.report_timeout_ms if accepted and plan else 0,
            first_poll=_first_lookup(provider, plan, decision, now) if accepted else None,
            cost_micros=attempt.cost_micros if attempt else 0,
            ends_sending=decision.state in CALLBACK_STATES,
        )
        return Concluded(finish, decision, provider)

    def _recorded(self, concluded: Concluded, kept: bool) -> None:
        """Count and log a recorded send (``kept``: its lease was still ours)."""
        claim, decision, provider = concluded.finish.claim, concluded.decision, concluded.provider
        assert claim.record is not None
        bound = get_logger(
            message_id=claim.record.id, to=mask_number(claim.record.to), provider=provider
        )
        if not kept:
            bound.warning("sms.lease_lost", state=decision.state.value)
            return
        if decision.state in CALLBACK_STATES:
            self._counts.reached(decision.state.value)
        cost = concluded.finish.cost_micros
        if cost and provider:
            self._counts.spent(provider, record_region(claim.record), cost)
        if decision.state is MessageState.ACCEPTED:
            bound.info("sms.accepted", provider_message_id=decision.provider_message_id)
        elif decision.state is MessageState.RETRY_SCHEDULED:
            assert decision.retry_at_ms is not None
            bound.info(
                "sms.retry_scheduled",
                delay_ms=decision.retry_at_ms - self._clock_ms(),
                possible_duplicate=decision.possible_duplicate,
            )
        else:
            bound.warning(
                "sms.dead_lettered",
                state=decision.state.value,
                reason=decision.reason.value if decision.reason else None,
                detail=decision.detail,
            )


def _attempt(
    pending: PendingSend, verdict: Verdict, http_status: int | None, latency_ms: int, cost: int
) -> Attempt:
    """The attempt ``pending`` made, as the record keeps it; ``cost``: what it costs when the
    provider took the message (accepted) or may have (ambiguous)."""
    billed = verdict.kind in (OutcomeKind.ACCEPTED, OutcomeKind.AMBIGUOUS)
    return Attempt(
        number=pending.attempt_number,
        provider=pending.provider.name,
        started_at_ms=pending.started_at_ms,
        latency_ms=latency_ms,
        outcome=verdict.kind.value,
        http_status=http_status,
        provider_code=verdict.provider_code,
        reason=verdict.reason,
        provider_message_id=verdict.provider_message_id,
        possible_duplicate=pending.possible_duplicate,
        task_id=pending.task_id,
        reconciled=pending.reconciled,
        resend_of=pending.resend_of,
        cost_micros=cost if billed else 0,
    )


def _detail_of(verdict: Verdict, http_status: int | None) -> str:
    status = f"HTTP {http_status} " if http_status is not None else ""
    code = f" [{verdict.provider_code}]" if verdict.provider_code else ""
    return f"{status}{verdict.kind.value}: {verdict.reason}{code}"


def _first_lookup(
    provider: str | None, plan: ProviderPlan | None, decision: Decision, now: int
) -> tuple[str, int] | None:
    """For a message just accepted by a provider that reports only when asked: (that provider,
    when it is first asked); None when the provider is not asked or gave no id to ask by."""
    if provider is None or plan is None or not plan.poll_schedule_ms:
        return None
    if not decision.provider_message_id:
        return None
    return provider, now + plan.poll_schedule_ms[0]
