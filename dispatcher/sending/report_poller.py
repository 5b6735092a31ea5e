"""Status lookups at the providers that report only when asked (GoSMS, YellowPush).

An accepted message of such a provider (``poll_reports``, on by default) waits in the provider's
lookup set (:mod:`dispatcher.store.report_polls`), due ``poll_schedule_s[0]`` after its
acceptance. Every worker runs a :class:`ReportPoller` thread, with no leader: each round takes
the due lookups of every such provider in one script per provider, within the provider's
``poll_rate_limit`` (shared by every worker) and at most ``poll_in_flight`` at once, asks them all
on the worker's event loop in the providers' own sessions, and then:

- a final status (GoSMS 3/4/5; YellowPush DELIVERED/DELIVRD, or anything but SENT, PENDING and
  ACCEPTED) moves the message to ``delivered`` / ``undelivered`` exactly as a pushed report does
  (same script, record fields, metrics and status callbacks), and it is asked no more;
- an intermediate status (GoSMS 0/1/2; YellowPush SENT/PENDING/ACCEPTED) is kept as the latest
  report and the message is asked again after the schedule's next wait;
- a failed lookup (timeout, connection error, 5xx, 429, an answer that cannot be read) changes
  nothing on the message: it is asked again after the schedule's next wait.

Lookups stop at the final status, or when the message's wait for a report ends
(``delivery_unknown``). Counted in ``smsdispatch_status_lookups_total{provider,outcome}``.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from dispatcher.core.clock import now_ms
from dispatcher.core.report_resend import ResendRules
from dispatcher.core.status_lookups import next_lookup_wait_ms
from dispatcher.errors import StoreError
from dispatcher.logs import get_logger, scrub
from dispatcher.sending.background_thread import BackgroundThread
from dispatcher.sending.send_plan import ProviderPlan, SendPlans
from dispatcher.store.messages import MessageStore
from dispatcher.store.report_application import apply_delivery_report
from dispatcher.store.report_polls import DueLookup, ReportPolls
from providers.base import Provider
from providers.transport import StatusLookup

__all__ = ["ReportPoller", "StatusAsker"]

_PAUSE_AFTER_ERROR_S = 1.0
# A lookup taken is held this long past its provider's budget before another worker may take it.
_LEASE_MARGIN_MS = 5_000


class StatusAsker(Protocol):
    """Asks providers about many messages at once (the worker's
    :class:`~dispatcher.sending.send_bridge.SendBridge`)."""

    def look_up_many(self, lookups: list[tuple[Provider, str]]) -> list[StatusLookup]: ...


@dataclass(frozen=True, slots=True)
class _Asked:
    provider: str
    plan: ProviderPlan
    due: DueLookup


class ReportPoller:
    """Looks up the status of accepted messages at the providers that report only when asked, in
    a background thread."""

    def __init__(
        self,
        plans: SendPlans,
        asker: StatusAsker,
        polls: ReportPolls,
        store: MessageStore,
        *,
        interval_s: float = 1.0,
        clock_ms: Callable[[], int] = now_ms,
        resend: ResendRules | None = None,
    ) -> None:
        self._resend = resend
        self._plans = [
            (name, plan) for name, plan in plans.by_provider.items() if plan.poll_schedule_ms
        ]
        self._asker = asker
        self._polls = polls
        self._store = store
        self._interval_s = interval_s
        self._clock_ms = clock_ms
        longest_ms = max((plan.budget_ms for _, plan in self._plans), default=0)
        self._thread = BackgroundThread(
            "sms-poller", self._loop, join_timeout_s=longest_ms / 1000 + 5
        )
        self._stop = self._thread.stopping

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers this poller asks."""
        return tuple(name for name, _ in self._plans)

    def _take(self, now: int) -> tuple[list[_Asked], bool]:
        """The due lookups of every provider asked; whether any provider had more due than it
        took (so the next round need not wait)."""
        asked: list[_Asked] = []
        more = False
        for name, plan in self._plans:
            cfg = plan.settings
            due = self._polls.take_due(
                name,
                now_ms=now,
                most=cfg.poll_in_flight,
                lease_ms=plan.budget_ms + _LEASE_MARGIN_MS,
                per_second=cfg.poll_rate_limit,
                burst=max(1, math.ceil(cfg.poll_rate_limit * self._interval_s)),
            )
            more = more or len(due) == cfg.poll_in_flight
            asked += [_Asked(name, plan, one) for one in due]
        return asked, more

    def run_once(self) -> tuple[int, bool]:
        """One round: take the due lookups, ask, record. How many were asked, and whether more
        may be due now."""
        asked, more = self._take(self._clock_ms())
        if not asked:
            return 0, False
        learnt = self._asker.look_up_many(
            [(a.plan.provider, a.due.provider_message_id) for a in asked]
        )
        now = self._clock_ms()
        by_provider: dict[str, list[tuple[_Asked, StatusLookup]]] = collections.defaultdict(list)
        for one, lookup in zip(asked, learnt, strict=True):
            by_provider[one.provider].append((one, lookup))
        for provider, results in by_provider.items():
            self._record(provider, results, now)
        return len(asked), more

    def _record(
        self, provider: str, results: Sequence[tuple[_Asked, StatusLookup]], now: int
    ) -> None:
        """Apply what the lookups of ``provider`` learnt; put back those still to be asked."""
        again: dict[str, int] = {}
        outcomes: collections.Counter[str] = collections.Counter()
        failures: list[str] = []
        for asked, lookup in results:
            due = asked.due
            report = lookup.report
            outcome = report.status if report is not None else "failed"
            outcomes[outcome] += 1
            applied = "failed"
            if report is not None:
                applied = apply_delivery_report(
                    self._store, due.message_id, provider, report, rules=self._resend, now_ms=now
                )
                if report.status != "pending":
                    get_logger(message_id=due.message_id, provider=provider).info(
                        "sms.delivery_report",
                        status=report.status,
                        provider_status=report.provider_status,
                        outcome=applied,
                        source="lookup",
                        lookups=due.lookups_before + 1,
                    )
            else:
                failures.append(lookup.failure or "unknown")
            if applied in ("failed", "pending", "not_accepted"):
                wait = next_lookup_wait_ms(asked.plan.poll_schedule_ms, due.lookups_before + 1)
                again[due.message_id] = now + wait
        self._polls.put_back(provider, again, outcomes)
        if failures:
            get_logger(provider=provider).warning(
                "sms.status_lookup_failed",
                count=len(failures),
                reason=scrub(failures[0]),
            )

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                _, more = self.run_once()
            except StoreError as exc:
                get_logger().warning("poller.store_error", error=str(exc))
                self._stop.wait(_PAUSE_AFTER_ERROR_S)
                continue
            if not more:
                self._stop.wait(self._interval_s)

    def start(self) -> None:
        """Start the thread, when any provider is to be asked."""
        if self._plans:
            self._thread.start()

    def stop(self) -> None:
        self._thread.stop()
