"""The first half of a job's work: claim the message, route it, admit it to a provider.

The route (:mod:`dispatcher.core.routing`) is put in order for this message (a weighted route draws
its first provider, adapted to the providers' health), then the first provider whose gates admit
the message is used (:mod:`dispatcher.store.gates`: circuit breaker, 429 pause, rate limit). A
message no provider can take now waits in the delay queue, without using an attempt.

A job whose message is already accepted or final is acknowledged without calling any provider; a
job whose message is held by another sender's lease is left to that sender. A message found in
state ``sending`` when claimed was being sent by a worker that died: its next attempt is marked
``possible_duplicate``. What came of the send is judged by :mod:`dispatcher.sending.conclusion`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any

from dispatcher.config.settings import RouteSettings
from dispatcher.core.circuit import rate_cost
from dispatcher.core.clock import now_ms
from dispatcher.core.decisions import (
    Decision,
    FinalReason,
    plan_send,
    wait_for_provider,
    wait_for_quiet_hours,
)
from dispatcher.core.delivery_health import DeliveryStats, country_calling_code, delivery_factors
from dispatcher.core.message_record import MessageRecord
from dispatcher.core.pricing import PriceTable
from dispatcher.core.provider_health import route_factors
from dispatcher.core.quiet_hours import QuietRules, quiet_until_ms
from dispatcher.core.routing import Route, providers_in_order
from dispatcher.core.states import MessageState
from dispatcher.logs import get_logger
from dispatcher.sending.conclusion import Concluder
from dispatcher.sending.pending_send import PendingSend
from dispatcher.sending.reconciliation import Reconciled, Reconciler
from dispatcher.sending.send_plan import ProviderPlan, SendPlans
from dispatcher.store.delivery_windows import DeliveryWindows
from dispatcher.store.gates import Admission, ProviderGates
from dispatcher.store.messages import Claim, ClaimStatus, MessageStore
from dispatcher.store.rate_limiter import Gcra
from dispatcher.store.redis_keys import sent_rate_key
from providers.base import OutboundSms

__all__ = ["Admitter"]

# A rate-limit slot this close is waited for in the job thread; a later one in the delay queue,
# which hands the message back this much before its slot (the delay queue is polled, not exact).
_WAIT_IN_THREAD_MS = 250
_WAKE_EARLY_MS = 200
# How long a job thread holds a due message back for the send-time rate check.
_HOLD_TO_RATE_MS = 1_000
# How long a process reuses the providers' recent windows for adaptive weights.
_WINDOWS_TTL_MS = 1_000
_NO_REPORTS = DeliveryStats()
_OPTED_OUT = Decision(
    MessageState.FAILED,
    FinalReason.OPTED_OUT,
    "the number opted out while the message waited; it was not sent",
)

# What a claim that is not ours to send logs (level, event, with the state found), and how the
# job ends.
_NOT_OURS = {
    ClaimStatus.MISSING: ("error", "sms.job_without_record", False, "missing"),
    ClaimStatus.DONE: ("info", "sms.already_done", True, "already_done"),
    ClaimStatus.BUSY: ("info", "sms.lease_held_elsewhere", True, "busy"),
    ClaimStatus.NOT_DUE: ("info", "sms.stale_job_not_due", False, "not_due"),  # published when due
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Waiting:
    """No provider can take the message now: wait (or expire), keeping a reserved slot if any."""

    decision: Decision
    slot_provider: str | None = None
    slot_at_ms: str = ""


class Admitter:
    """Claims and admits messages; safe to call from many job threads at once."""

    def __init__(
        self,
        *,
        plans: SendPlans,
        routes: RouteSettings,
        store: MessageStore,
        gates: ProviderGates,
        rate_checks: Gcra,
        concluder: Concluder,
        clock_ms: Callable[[], int] = now_ms,
        reconciler: Reconciler | None = None,
        delivery: DeliveryWindows | None = None,
        quiet_hours: QuietRules | None = None,
        prices: Mapping[str, PriceTable] | None = None,
    ) -> None:
        self._reconciler = reconciler
        self._prices = prices or {}
        self._quiet = quiet_hours if quiet_hours is not None and quiet_hours.active else None
        self._plans = plans
        self._routes = routes
        self._store = store
        self._gates = gates
        self._rate_checks = rate_checks
        self._concluder = concluder
        self._clock_ms = clock_ms
        self._delivery = delivery
        self._windows: tuple[int, dict[str, Any], dict[str, dict[str, DeliveryStats]]] = (
            0,
            {},
            {},
        )

    def claim_many(self, message_ids: list[str]) -> list[Claim]:
        """The send leases of many messages in one step (for :meth:`begin`)."""
        return self._store.claim_many(
            message_ids, lease_ms=self._plans.lease_ms, now_ms=self._clock_ms()
        )

    def take_ready(self, queue: str, *, count: int, ready_template: str) -> list[tuple[str, Claim]]:
        """Up to ``count`` messages from the head of ``queue``'s ready list, each with its send
        lease claimed (for :meth:`begin`), the list's next job queued when any are left."""
        return self._store.take_ready(
            queue,
            count=count,
            lease_ms=self._plans.lease_ms,
            now_ms=self._clock_ms(),
            ready_template=ready_template,
        )

    def reconcile_many(self, claims: list[Claim]) -> list[Reconciled | None]:
        """For each claim, what asking for its message by our reference came to, where it may
        already be at a provider (None: nothing to ask); the lookups go out together. For
        :meth:`begin`'s ``reconciled``."""
        if self._reconciler is None:
            return [None] * len(claims)
        questions = [(claim, self._providers_to_ask(claim)) for claim in claims]
        if not any(providers for _, providers in questions):
            return [None] * len(claims)
        return self._reconciler.ask(questions)

    def _providers_to_ask(self, claim: Claim) -> tuple[str, ...]:
        if self._reconciler is None or claim.status is not ClaimStatus.CLAIMED:
            return ()
        assert claim.record is not None
        record = claim.record
        return self._reconciler.providers_to_ask(claim, lambda: self._order(record))

    def begin(
        self,
        message_id: str,
        *,
        task_id: str | None = None,
        claim: Claim | None = None,
        reconciled: Reconciled | None = None,
        asked: bool = False,
    ) -> PendingSend | str:
        """Claim the message (unless ``claim`` is one already made), ask for it where it may
        already be (unless ``asked``: then ``reconciled`` is what that came to), route it and
        admit it to a provider: the send to make, or what happened instead (already done, held
        elsewhere, found at a provider, waiting, expired, ...)."""
        log = get_logger(message_id=message_id, task_id=task_id)
        if claim is None:
            claim = self._store.claim(
                message_id, lease_ms=self._plans.lease_ms, now_ms=self._clock_ms()
            )
        if claim.status is not ClaimStatus.CLAIMED:
            level, event, with_state, outcome = _NOT_OURS[claim.status]
            fields = {"state": str(claim.previous_state)} if with_state else {}
            getattr(log, level)(event, **fields)
            return outcome
        assert claim.record is not None
        record = claim.record
        if claim.opted_out:
            log.info("sms.opted_out", category=record.category)
            self._concluder.record_without_send(claim, _OPTED_OUT)
            return MessageState.FAILED.value
        if not asked:
            reconciled = self.reconcile_many([claim])[0]
        if reconciled is not None and self._found(claim, reconciled, log):
            return "accepted"
        # The sender before us died mid-send: the provider may have the message, whether this
        # claim sends it or only makes it wait (the flag must outlive a wait for its next send),
        # unless the providers it may be at were asked and have it not.
        unseen = reconciled is not None and reconciled.outcome == "not_found"
        dead_sender = claim.previous_state is MessageState.SENDING and not unseen
        flag = {"possible_duplicate": "1"} if dead_sender else {}
        order = self._order(record)
        plan = self._quiet_hours(record, log) or plan_send(record, order, self._clock_ms())
        if isinstance(plan, Decision):
            self._concluder.record_without_send(claim, plan, flag)
            return plan.state.value
        chosen = self._admit(record, plan.providers, log)
        if isinstance(chosen, _Waiting):
            slot = {"slot_provider": chosen.slot_provider or "", "slot_at_ms": chosen.slot_at_ms}
            self._concluder.record_without_send(claim, chosen.decision, {**slot, **flag})
            return chosen.decision.state.value
        provider_plan, admission = chosen
        pending = self._pending(claim, record, provider_plan, admission, order, task_id)
        if reconciled is None:
            return pending
        return dataclasses.replace(
            pending,
            reconciled=reconciled.outcome,
            possible_duplicate=pending.possible_duplicate and not unseen,
        )

    def _quiet_hours(self, record: MessageRecord, log: Any) -> Decision | None:
        """A marketing message due inside its recipient's quiet hours: wait until they end (or
        expire); None when it may go."""
        if self._quiet is None or record.category != "marketing":
            return None
        now = self._clock_ms()
        until_ms = quiet_until_ms(record.to, now, self._quiet)
        if until_ms is None or now >= record.valid_until_ms:
            return None  # may go (or expires in plan_send, for its validity)
        log.info("sms.quiet_hours", until_ms=until_ms)
        return wait_for_quiet_hours(record.valid_until_ms, until_ms)

    def _found(self, claim: Claim, reconciled: Reconciled, log: Any) -> bool:
        """Log what asking for the claimed message came to; found at a provider, record it
        accepted there (nothing to send)."""
        log.info(
            "sms.reconciled",
            provider=reconciled.provider,
            outcome=reconciled.outcome,
            reason=reconciled.reason,
        )
        if reconciled.outcome != "found":
            return False
        self._concluder.record_found(claim, reconciled)
        return True

    def _pending(  # noqa: PLR0917 - the parts of one admitted send
        self,
        claim: Claim,
        record: MessageRecord,
        plan: ProviderPlan,
        admission: Admission,
        order: tuple[str, ...],
        task_id: str | None,
    ) -> PendingSend:
        # The sender before us died mid-send, or an earlier attempt got no clear answer.
        possible_duplicate = (
            claim.previous_state is MessageState.SENDING or record.possible_duplicate
        )
        sms = OutboundSms(
            message_id=record.id,
            to_e164=record.to,
            body=record.body,
            sender=record.sender,
            encoding=record.encoding,
            segments=record.segments,
            valid_until_ms=record.valid_until_ms,
        )
        return PendingSend(
            claim=claim,
            provider=plan.provider,
            admission=admission,
            order=order,
            attempt_number=record.attempt_count + 1,
            possible_duplicate=possible_duplicate,
            task_id=task_id,
            sms=sms,
            started_at_ms=self._clock_ms(),
            # The first send after an undelivered report for a passing reason repeats that one.
            resend_of=record.resend_of_attempt
            if record.resend_of_attempt == record.attempt_count
            else None,
        )

    def _order(self, record: MessageRecord) -> tuple[str, ...]:
        """The order this message tries the providers of its route."""
        route = self._routes.route_of(record.to, record.providers, self._plans.enabled)
        cheapest = self._routes.tries_cheapest_first(record.to, record.providers)
        return providers_in_order(
            route,
            message_id=record.id,
            to=record.to,
            least_cost=cheapest,
            prices=self._prices,
            factors=self._health_factors(route, record.to, weighted_only=not cheapest),
        )

    def _health_factors(
        self, route: Route, to: str, *, weighted_only: bool = True
    ) -> dict[str, float]:
        """Factors of a route's providers (a weighted route's, unless not ``weighted_only``)
        from their recent windows and what their reports for ``to``'s country say (read from
        Redis at most once a second per process)."""
        unweighted = route.weights is None and weighted_only
        if unweighted or not self._routes.adaptive_weights or not route.providers:
            return {}
        now = self._clock_ms()
        cached_at_ms, windows, delivered = self._windows
        if now - cached_at_ms >= _WINDOWS_TTL_MS:
            windows = self._gates.windows(self._plans.enabled, now_ms=now)
            if self._delivery is not None:
                delivered = self._delivery.read(self._plans.enabled, now_ms=now)
            self._windows = (now, windows, delivered)
        country = country_calling_code(to)
        delivery = delivery_factors(
            {name: delivered.get(name, {}).get(country, _NO_REPORTS) for name in route.providers},
            min_reports=self._routes.delivery_min_reports,
        )
        return route_factors(
            route.providers, True, windows, self._plans.min_calls, delivery=delivery
        )

    def _admit(
        self, record: MessageRecord, candidates: tuple[str, ...], log: Any
    ) -> tuple[ProviderPlan, Admission] | _Waiting:
        """The first candidate whose gates let the message go now (after a short wait for its
        rate-limit slot), or the decision to wait in the delay queue for a later slot or for the
        earliest provider to reopen."""
        now = self._clock_ms()
        waits: list[tuple[int, str]] = []
        for name in candidates:
            plan = self._plans[name]
            holds_slot = record.slot_provider == name and record.slot_at_ms is not None
            admission = self._gates.admit(
                name,
                now_ms=now,
                segments=record.segments,
                max_wait_ms=min(
                    record.valid_until_ms - now - plan.budget_ms, plan.rate_max_wait_ms
                ),
                holds_slot=holds_slot,
                probe_window_ms=plan.probe_window_ms,
                counts_segments=plan.counts_segments,
            )
            if admission.turned_half_open:
                log.warning("provider.circuit_half_open", provider=name)
            if not admission.go:
                waits.append((admission.at_ms, f"{name} {admission.verdict}"))
                continue
            waiting = self._go_at_slot(record, plan, admission, holds_slot, now, log)
            return waiting or (plan, admission)
        until_ms, _ = min(waits)
        why = ", ".join(reason for _, reason in waits)
        log.info("sms.waiting_for_provider", until_ms=until_ms, why=why)
        return _Waiting(wait_for_provider(record.valid_until_ms, max(until_ms, now + 1), why))

    def _go_at_slot(  # noqa: PLR0917 - one admission's parts
        self,
        record: MessageRecord,
        plan: ProviderPlan,
        admission: Admission,
        holds_slot: bool,
        now: int,
        log: Any,
    ) -> _Waiting | None:
        """Wait here for an admitted message's slot when it is close (None: it may go now), or
        the decision to wait in the delay queue, waking a little early to go at the slot."""
        name = plan.provider.name
        go_at_ms = max(admission.at_ms, record.slot_at_ms or 0) if holds_slot else admission.at_ms
        wait_ms = go_at_ms - now
        if wait_ms > (_WAKE_EARLY_MS + _WAIT_IN_THREAD_MS if holds_slot else _WAIT_IN_THREAD_MS):
            log.info("sms.waiting_for_rate_slot", provider=name, wait_ms=wait_ms)
            decision = wait_for_provider(
                record.valid_until_ms, go_at_ms - _WAKE_EARLY_MS, "rate limit"
            )
            return _Waiting(decision, name, str(go_at_ms))
        if wait_ms > 0:
            time.sleep(wait_ms / 1000)
        late = self._hold_to_rate(
            plan, rate_cost(record.segments, counts_segments=plan.counts_segments)
        )
        if late is not None:
            log.info("sms.waiting_for_rate_slot", provider=name, wait_ms=late)
            decision = wait_for_provider(record.valid_until_ms, self._clock_ms() + late, "rate")
            return _Waiting(decision)
        return None

    def _hold_to_rate(self, plan: ProviderPlan, cost: int) -> int | None:
        """The send-time check of a rate-limited provider: wait here (briefly) until the send
        conforms to the limit, so messages that come late to their slots do not go together.
        None when it may go; else how long it would still have to wait."""
        cfg = plan.settings
        if not cfg.rate_limit:
            return None
        waited_ms = 0
        while True:
            wait_ms = self._rate_checks.wait_ms(
                sent_rate_key(plan.provider.name),
                now_ms=self._clock_ms(),
                per_second=cfg.rate_limit,
                burst=cfg.burst,
                cost=cost,
            )
            if wait_ms == 0:
                return None
            if waited_ms + wait_ms > _HOLD_TO_RATE_MS:
                return wait_ms
            time.sleep(wait_ms / 1000)
            waited_ms += wait_ms
