"""One job's work: claim the message, send it through its provider, record what came of it.

The decisions themselves live in :mod:`dispatcher.delivery`; this module does the I/O around them:
the status store (claim, finish), the provider exchange through the :class:`SendBridge`, and logs.

A job whose message is already accepted or final is acknowledged without calling any provider; a job
whose message is held by another sender's lease is left to that sender. A message found in state
``sending`` when claimed was being sent by a worker that died: its next attempt is marked
``possible_duplicate``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from dispatcher.delivery import Decision, decide_after_attempt, plan_send, remaining_route
from dispatcher.logs import get_logger
from dispatcher.policy import resolve_policy
from dispatcher.records import Attempt, MessageRecord, mask_number
from dispatcher.routing import route_for
from dispatcher.settings import Settings
from dispatcher.states import MessageState
from dispatcher.store import Claim, MessageStore
from providers.base import OutboundSms, Provider
from providers.outcome import Verdict
from providers.transport import SendOutcome, conversation_budget_s

__all__ = ["Courier", "Exchanger"]


class Exchanger(Protocol):
    """Sends one SMS through a provider (the worker's :class:`~dispatcher.runtime.SendBridge`)."""

    def send(self, provider: Provider, sms: OutboundSms) -> SendOutcome: ...


def _now_ms() -> int:
    return int(time.time() * 1000)


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
        longest_timeout_s = max(
            (conversation_budget_s(p) for p in self._providers.values()), default=10.0
        )
        self._lease_ms = int((longest_timeout_s + settings.worker.lease_margin_s) * 1000)

    def deliver(self, message_id: str, *, task_id: str | None = None) -> str:
        """Send message ``message_id`` once if it is still to be sent; returns what happened."""
        log = get_logger(message_id=message_id, task_id=task_id)
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
            prefixes=self._settings.routes.prefixes,
            default=self._settings.routes.default,
            enabled=self._enabled,
        )
        plan = plan_send(record, route, self._clock_ms())
        if isinstance(plan, Decision):
            self._finish(claim, plan, None, None)
            return plan.state.value
        provider = self._providers[plan.provider]
        attempt_number = record.attempt_count + 1
        # The sender before us died mid-send, or an earlier attempt got no clear answer.
        possible_duplicate = (
            claim.previous_state is MessageState.SENDING or record.possible_duplicate
        )
        log = log.bind(provider=provider.name, attempt=attempt_number)
        verdict, http_status, latency_ms, started_ms = self._attempt(provider, record)
        attempt = Attempt(
            number=attempt_number,
            provider=provider.name,
            started_at_ms=started_ms,
            latency_ms=latency_ms,
            outcome=verdict.kind.value,
            http_status=http_status,
            provider_code=verdict.provider_code,
            reason=verdict.reason,
            provider_message_id=verdict.provider_message_id,
            possible_duplicate=possible_duplicate,
            task_id=task_id,
        )
        log.info(
            "sms.attempt",
            outcome=verdict.kind.value,
            http_status=http_status,
            provider_code=verdict.provider_code,
            latency_ms=latency_ms,
            possible_duplicate=possible_duplicate,
        )
        provider_settings = self._settings.providers[provider.name]
        in_a_row = record.provider_attempts + 1 if record.provider == provider.name else 1
        next_provider = next(
            (name for name in remaining_route(record, route) if name != provider.name), None
        )
        decision = decide_after_attempt(
            verdict,
            attempts_made=attempt_number,
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
        extra = {"provider_attempts": str(in_a_row)}
        if decision.failover_to is not None:
            attempt = dataclasses.replace(attempt, next_provider=decision.failover_to)
            extra["providers_left"] = ",".join((*record.providers_left, provider.name))
            log.warning(
                "sms.failed_over",
                outcome=verdict.kind.value,
                provider_code=verdict.provider_code,
                next_provider=decision.failover_to,
            )
        self._finish(claim, decision, provider.name, attempt, extra)
        return decision.state.value

    def _attempt(
        self, provider: Provider, record: MessageRecord
    ) -> tuple[Verdict, int | None, int, int]:
        sms = OutboundSms(
            message_id=record.id,
            to_e164=record.to,
            body=record.body,
            sender=record.sender,
            encoding=record.encoding,
            segments=record.segments,
            valid_until_ms=record.valid_until_ms,
        )
        started_ms = self._clock_ms()
        started = time.perf_counter()
        outcome = self._exchanger.send(provider, sms)
        latency_ms = int((time.perf_counter() - started) * 1000)
        return outcome.verdict, outcome.http_status, latency_ms, started_ms

    def _finish(
        self,
        claim: Claim,
        decision: Decision,
        provider: str | None,
        attempt: Attempt | None,
        extra: dict[str, str] | None = None,
    ) -> None:
        assert claim.record is not None
        changes = {**decision.changes(provider), **(extra or {})}
        if attempt is not None and attempt.possible_duplicate:
            changes["possible_duplicate"] = "1"
        kept = self._store.finish(
            claim,
            attempt=attempt,
            changes=changes,
            now_ms=self._clock_ms(),
            action=decision.action,
            score_ms=decision.retry_at_ms or self._clock_ms(),
        )
        bound = get_logger(
            message_id=claim.record.id,
            to=mask_number(claim.record.to),
            provider=provider,
        )
        if not kept:
            bound.warning("sms.lease_lost", state=decision.state.value)
            return
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
