"""One job's work: claim the message, send it through its provider, record what came of it.

The decisions themselves live in :mod:`dispatcher.core.decisions`; this module does the I/O around
them: the status store (claim, finish), the provider gates (:mod:`dispatcher.store.gates`: circuit
breaker, 429 pause, rate limit, recent window), the provider exchange through the
:class:`SendBridge`, and logs.

The route (:mod:`dispatcher.core.routing`) is put in order for this message (a weighted route draws
its first provider, adapted to the providers' health), then the first provider whose gates admit the
message is used; every attempt is reported back to its provider's gates.

A job whose message is already accepted or final is acknowledged without calling any provider; a job
whose message is held by another sender's lease is left to that sender. A message found in state
``sending`` when claimed was being sent by a worker that died: its next attempt is marked
``possible_duplicate``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from dispatcher.config.settings import Settings
from dispatcher.core.decisions import (
    Decision,
    decide_after_attempt,
    plan_send,
    remaining_route,
    wait_for_provider,
)
from dispatcher.core.message_record import Attempt, MessageRecord, mask_number
from dispatcher.core.provider_health import WindowStats, route_factors
from dispatcher.core.retry_policy import resolve_policy
from dispatcher.core.routing import Route, draw_for, order_route, route_for
from dispatcher.core.states import CALLBACK_STATES, MessageState
from dispatcher.logs import get_logger, scrub
from dispatcher.store.gates import Admission, CircuitState, ProviderGates, circuit_class, rate_cost
from dispatcher.store.message_counts import MessageCounts
from dispatcher.store.messages import Claim, Finish, MessageStore
from dispatcher.store.rate_limiter import Gcra
from dispatcher.store.redis_keys import sent_rate_key
from providers.base import OutboundSms, Provider
from providers.outcome import Verdict
from providers.transport import SendOutcome, conversation_budget_s

__all__ = ["Concluded", "Courier", "Exchanger", "PendingSend"]


class Exchanger(Protocol):
    """Sends one SMS through a provider (the worker's
    :class:`~dispatcher.sending.send_bridge.SendBridge`)."""

    def send(self, provider: Provider, sms: OutboundSms) -> SendOutcome: ...


# A rate-limit slot this close is waited for in the job thread; a later one in the delay queue,
# which hands the message back this much before its slot (the delay queue is polled, not exact).
_WAIT_IN_THREAD_MS = 250
_WAKE_EARLY_MS = 200
# How long a job thread holds a due message back for the send-time rate check.
_HOLD_TO_RATE_MS = 1_000
# A half-open circuit's probes get the provider's whole conversation budget plus this to answer.
_PROBE_MARGIN_MS = 2_000
# How long a process reuses the providers' recent windows for adaptive weights.
_WINDOWS_TTL_MS = 1_000


@dataclasses.dataclass(frozen=True, slots=True)
class PendingSend:
    """A claimed message admitted to a provider: the exchange to make, and what finishing it
    needs (the claim with its lease, the admission, the route order, the attempt's number)."""

    claim: Claim
    provider: Provider
    admission: Admission
    order: tuple[str, ...]
    attempt_number: int
    possible_duplicate: bool
    task_id: str | None
    sms: OutboundSms
    started_at_ms: int


@dataclasses.dataclass(frozen=True, slots=True)
class Concluded:
    """A send judged: what to record for it, what was decided, through which provider."""

    finish: Finish
    decision: Decision
    provider: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class _Waiting:
    """No provider can take the message now: wait (or expire), keeping a reserved slot if any."""

    decision: Decision
    slot_provider: str | None = None
    slot_at_ms: str = ""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _elapsed_ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


class Courier:
    """Delivers one message per call; safe to call from many job threads at once."""

    def __init__(
        self,
        *,
        settings: Settings,
        store: MessageStore,
        providers: Mapping[str, Provider],
        exchanger: Exchanger,
        clock_ms: Callable[[], int] = _now_ms,
        gates_fast_path_ms: int = 0,
        buffer_counts: bool = False,
    ) -> None:
        self._settings = settings
        self._store = store
        self._providers = dict(providers)
        self._exchanger = exchanger
        self._clock_ms = clock_ms
        self._enabled = [
            name for name, cfg in settings.providers.items() if cfg.enabled and name in providers
        ]
        self._default_policy = settings.retry.policy()
        self._longest_conversation_s = max(
            (conversation_budget_s(p) for p in self._providers.values()), default=10.0
        )
        self._lease_ms = int((self._longest_conversation_s + settings.worker.lease_margin_s) * 1000)
        self._gates = ProviderGates(
            store.redis, settings.providers, fast_path_ms=gates_fast_path_ms, clock_ms=clock_ms
        )
        self._gcra = Gcra(store.redis)
        self._counts = MessageCounts(store.redis, buffered=buffer_counts)
        self._windows: tuple[int, dict[str, WindowStats]] = (0, {})
        self._min_calls = {n: p.circuit.min_calls for n, p in settings.providers.items()}

    def deliver(self, message_id: str, *, task_id: str | None = None) -> str:
        """Send message ``message_id`` once if it is still to be sent; returns what happened.

        The whole of one delivery in the calling thread: :meth:`begin`, the provider exchange,
        :meth:`complete`. The worker runs the same steps with the exchange on its event loop
        (:class:`~dispatcher.sending.pipeline.SendPipeline`)."""
        begun = self.begin(message_id, task_id=task_id)
        if isinstance(begun, str):
            return begun
        started = time.perf_counter()
        outcome = self._exchanger.send(begun.provider, begun.sms)
        return self.complete(begun, outcome, latency_ms=_elapsed_ms(started))

    def claim_many(self, message_ids: list[str]) -> list[Claim]:
        """The send leases of many messages in one step (for :meth:`begin`)."""
        return self._store.claim_many(message_ids, lease_ms=self._lease_ms, now_ms=self._clock_ms())

    def begin(
        self, message_id: str, *, task_id: str | None = None, claim: Claim | None = None
    ) -> PendingSend | str:
        """Claim the message (unless ``claim`` is one already made), route it and admit it to a
        provider: the send to make, or what happened instead (already done, held elsewhere,
        waiting, expired, ...)."""
        log = get_logger(message_id=message_id, task_id=task_id)
        if claim is None:
            claim = self._store.claim(message_id, lease_ms=self._lease_ms, now_ms=self._clock_ms())
        if claim.status == "missing":
            log.error("sms.job_without_record")
            return "missing"
        if claim.status == "done":
            log.info("sms.already_done", state=str(claim.previous_state))
            return "already_done"
        if claim.status == "busy":
            log.info("sms.lease_held_elsewhere", state=str(claim.previous_state))
            return "busy"
        if claim.status == "not_due":
            log.info("sms.stale_job_not_due")  # the delay queue publishes it when due
            return "not_due"
        assert claim.record is not None
        record = claim.record
        route = route_for(
            record.to,
            override=record.providers,
            prefixes=self._settings.routes.prefix_routes,
            default=self._settings.routes.default_route,
            enabled=self._enabled,
        )
        order = order_route(route, draw_for(record.id), self._health_factors(route))
        plan = plan_send(record, order, self._clock_ms())
        if isinstance(plan, Decision):
            self._record_one(self._concluded(claim, plan, None, None))
            return plan.state.value
        chosen = self._admit(record, plan.providers, log)
        if isinstance(chosen, _Waiting):
            slot = {"slot_provider": chosen.slot_provider or "", "slot_at_ms": chosen.slot_at_ms}
            self._record_one(self._concluded(claim, chosen.decision, None, None, slot))
            return chosen.decision.state.value
        provider, admission = chosen
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
            provider=provider,
            admission=admission,
            order=order,
            attempt_number=record.attempt_count + 1,
            possible_duplicate=possible_duplicate,
            task_id=task_id,
            sms=sms,
            started_at_ms=self._clock_ms(),
        )

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
        provider = pending.provider
        # What the provider wrote is kept with the message and shown to operators: never with
        # the full number or a credential in it.
        verdict = dataclasses.replace(outcome.verdict, reason=scrub(outcome.verdict.reason))
        http_status = outcome.http_status
        log = get_logger(
            message_id=record.id,
            task_id=pending.task_id,
            provider=provider.name,
            attempt=pending.attempt_number,
        )
        if report_to_gates:
            self._report(
                provider.name,
                verdict=verdict,
                http_status=http_status,
                latency_ms=latency_ms,
                probe=pending.admission.probe,
                log=log,
            )
        attempt = Attempt(
            number=pending.attempt_number,
            provider=provider.name,
            started_at_ms=pending.started_at_ms,
            latency_ms=latency_ms,
            outcome=verdict.kind.value,
            http_status=http_status,
            provider_code=verdict.provider_code,
            reason=verdict.reason,
            provider_message_id=verdict.provider_message_id,
            possible_duplicate=pending.possible_duplicate,
            task_id=pending.task_id,
        )
        log.info(
            "sms.attempt",
            outcome=verdict.kind.value,
            http_status=http_status,
            provider_code=verdict.provider_code,
            latency_ms=latency_ms,
            possible_duplicate=pending.possible_duplicate,
        )
        provider_settings = self._settings.providers[provider.name]
        in_a_row = record.provider_attempts + 1 if record.provider == provider.name else 1
        next_provider = next(
            (name for name in remaining_route(record, pending.order) if name != provider.name),
            None,
        )
        decision = decide_after_attempt(
            verdict,
            attempts_made=pending.attempt_number,
            now_ms=self._clock_ms(),
            valid_until_ms=record.valid_until_ms,
            policy=resolve_policy(
                self._default_policy,
                provider_settings.retry.policy() if provider_settings.retry else None,
            ),
            on_ambiguous=provider_settings.on_ambiguous,
            next_provider=next_provider,
            provider_attempts=in_a_row,
            attempts_before_failover=provider_settings.attempts_before_failover,
        )
        extra = {"provider_attempts": str(in_a_row), "slot_provider": "", "slot_at_ms": ""}
        if decision.failover_to is not None:
            attempt = dataclasses.replace(attempt, next_provider=decision.failover_to)
            extra["providers_left"] = ",".join((*record.providers_left, provider.name))
            log.warning(
                "sms.failed_over",
                outcome=verdict.kind.value,
                provider_code=verdict.provider_code,
                next_provider=decision.failover_to,
            )
        return self._concluded(pending.claim, decision, provider.name, attempt, extra)

    def complete(
        self,
        pending: PendingSend,
        outcome: SendOutcome,
        *,
        latency_ms: int,
        report_to_gates: bool = True,
    ) -> str:
        """:meth:`conclude` the send and record it; returns the state it reached."""
        concluded = self.conclude(
            pending, outcome, latency_ms=latency_ms, report_to_gates=report_to_gates
        )
        self._record_one(concluded)
        return concluded.decision.state.value

    def record(self, concluded: list[Concluded]) -> None:
        """Record many concluded sends in one round trip. A lost connection raises (try them
        all again); a script error for one is logged and leaves that message to its lease."""
        results = self._store.finish_many([c.finish for c in concluded])
        for one, result in zip(concluded, results, strict=True):
            if isinstance(result, Exception):
                record = one.finish.claim.record
                get_logger(message_id=record.id if record else None).error(
                    "sms.finish_failed", error=type(result).__name__
                )
            else:
                self._recorded(one, result)

    @property
    def gates(self) -> ProviderGates:
        """The providers' gates this courier admits and reports through."""
        return self._gates

    @property
    def counts(self) -> MessageCounts:
        """The states its messages reached, for the metrics (flushed by the worker when
        buffered)."""
        return self._counts

    @property
    def longest_conversation_s(self) -> float:
        """The longest one send through any of its providers may take."""
        return self._longest_conversation_s

    @property
    def lease_ms(self) -> int:
        """How long a claim holds a message: the longest provider conversation and a margin."""
        return self._lease_ms

    def _health_factors(self, route: Route) -> dict[str, float]:
        """Weight factors of a weighted route's providers from their recent windows (read from
        Redis at most once a second per process)."""
        adaptive = self._settings.routes.adaptive_weights
        if route.weights is None or not adaptive or not route.providers:
            return {}
        now_ms = self._clock_ms()
        cached_at_ms, windows = self._windows
        if now_ms - cached_at_ms >= _WINDOWS_TTL_MS:
            windows = self._gates.windows(self._enabled, now_ms=now_ms)
            self._windows = (now_ms, windows)
        return route_factors(route.providers, route.weights is not None, windows, self._min_calls)

    def _admit(
        self, record: MessageRecord, candidates: tuple[str, ...], log: Any
    ) -> tuple[Provider, Admission] | _Waiting:
        """The first candidate whose gates let the message go now (after a short wait for its
        rate-limit slot), or the decision to wait in the delay queue for a later slot or for the
        earliest provider to reopen."""
        now_ms = self._clock_ms()
        waits: list[tuple[int, str]] = []
        for name in candidates:
            provider = self._providers[name]
            budget_ms = int(conversation_budget_s(provider) * 1000)
            settings = self._settings.providers[name]
            holds_slot = record.slot_provider == name and record.slot_at_ms is not None
            counts_segments = bool(getattr(provider, "counts_segments", False))
            admission = self._gates.admit(
                name,
                now_ms=now_ms,
                segments=record.segments,
                max_wait_ms=min(
                    record.valid_until_ms - now_ms - budget_ms,
                    int(settings.rate_max_wait_s * 1000),
                ),
                holds_slot=holds_slot,
                probe_window_ms=budget_ms + _PROBE_MARGIN_MS,
                counts_segments=counts_segments,
            )
            if admission.turned_half_open:
                log.warning("provider.circuit_half_open", provider=name)
            if not admission.go:
                waits.append((admission.at_ms, f"{name} {admission.verdict}"))
                continue
            go_at_ms = (
                max(admission.at_ms, record.slot_at_ms or 0) if holds_slot else admission.at_ms
            )
            wait_ms = go_at_ms - now_ms
            if wait_ms > (
                _WAKE_EARLY_MS + _WAIT_IN_THREAD_MS if holds_slot else _WAIT_IN_THREAD_MS
            ):
                # Wait in the delay queue, waking a little early to go at the slot itself.
                log.info("sms.waiting_for_rate_slot", provider=name, wait_ms=wait_ms)
                decision = wait_for_provider(
                    record.valid_until_ms, go_at_ms - _WAKE_EARLY_MS, "rate limit"
                )
                return _Waiting(decision, name, str(go_at_ms))
            if wait_ms > 0:
                time.sleep(wait_ms / 1000)
            late = self._hold_to_rate(
                provider, rate_cost(record.segments, counts_segments=counts_segments)
            )
            if late is not None:
                log.info("sms.waiting_for_rate_slot", provider=name, wait_ms=late)
                decision = wait_for_provider(record.valid_until_ms, self._clock_ms() + late, "rate")
                return _Waiting(decision)
            return provider, admission
        until_ms, _ = min(waits)
        why = ", ".join(reason for _, reason in waits)
        log.info("sms.waiting_for_provider", until_ms=until_ms, why=why)
        return _Waiting(wait_for_provider(record.valid_until_ms, max(until_ms, now_ms + 1), why))

    def _hold_to_rate(self, provider: Provider, cost: int) -> int | None:
        """The send-time check of a rate-limited provider: wait here (briefly) until the send
        conforms to the limit, so messages that come late to their slots do not go together.
        None when it may go; else how long it would still have to wait."""
        cfg = self._settings.providers[provider.name]
        if not cfg.rate_limit:
            return None
        waited_ms = 0
        while True:
            wait_ms = self._gcra.wait_ms(
                sent_rate_key(provider.name),
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

    def _report(
        self,
        provider: str,
        *,
        verdict: Verdict,
        http_status: int | None,
        latency_ms: int,
        probe: bool,
        log: Any,
    ) -> None:
        """Count the attempt in the provider's gates; log a circuit that changed state."""
        move = self._gates.report(
            provider,
            now_ms=self._clock_ms(),
            attempt_class=circuit_class(verdict.kind.value, http_status),
            latency_ms=latency_ms,
            probe=probe,
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

    def _record_one(self, concluded: Concluded) -> None:
        self._recorded(concluded, self._store.apply_finish(concluded.finish))

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
        adapter = self._providers.get(provider) if provider else None
        if getattr(adapter, "reports_carry_reference", False):
            accepted_id = None  # its reports name our message id: no index needed
        finish = Finish(
            claim,
            attempt,
            changes,
            now_ms=self._clock_ms(),
            action=decision.action,
            score_ms=decision.retry_at_ms or self._clock_ms(),
            provider_id=(provider, accepted_id) if provider and accepted_id else None,
            reached_state=decision.state.value if decision.state in CALLBACK_STATES else None,
        )
        return Concluded(finish, decision, provider)

    def _recorded(self, concluded: Concluded, kept: bool) -> None:
        """Count and log a recorded send (``kept``: its lease was still ours)."""
        claim, decision, provider = concluded.finish.claim, concluded.decision, concluded.provider
        assert claim.record is not None
        bound = get_logger(
            message_id=claim.record.id,
            to=mask_number(claim.record.to),
            provider=provider,
        )
        if not kept:
            bound.warning("sms.lease_lost", state=decision.state.value)
            return
        if decision.state in CALLBACK_STATES:
            self._counts.reached(decision.state.value)
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


def _detail_of(verdict: Verdict, http_status: int | None) -> str:
    status = f"HTTP {http_status} " if http_status is not None else ""
    code = f" [{verdict.provider_code}]" if verdict.provider_code else ""
    return f"{status}{verdict.kind.value}: {verdict.reason}{code}"
