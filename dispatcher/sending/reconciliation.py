"""Ask before resending: a message that may already be at a provider is looked for there first.

A message may have reached a provider when its last attempt got no clear answer (``ambiguous``:
a read timeout, a connection lost after sending) or when its sender died mid-send (claimed in
state ``sending``). Before such a message is sent again, each provider that can be asked by our
reference (``ReferenceLookup``: Sinch's List Batches by ``client_reference``, with
``ask_before_resend``) and may have it is asked: for an ambiguous attempt, the provider of that
attempt; for a dead sender, every such provider of the message's route (the dead sender's choice
was not recorded). What it came to:

- ``found``: the message is ``accepted`` with the provider's id for it, and not sent again;
- ``not_found``: it is sent as it would have been, and the attempt is not flagged;
- ``lookup_failed``: it is sent as it would have been, still flagged ``possible_duplicate``.

The attempt records it (``reconciled``), and ``smsdispatch_reconciliations_total{provider,
outcome}`` counts it. The lookups of a batch of messages go out together on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from dispatcher.core.clock import now_ms
from dispatcher.core.states import MessageState
from dispatcher.sending.send_plan import SendPlans
from dispatcher.store.message_counts import MessageCounts
from dispatcher.store.messages import Claim
from providers.base import Provider
from providers.outcome import OutcomeKind
from providers.transport import Reconciliation

__all__ = ["Reconciled", "Reconciler", "ReferenceAsker"]


class ReferenceAsker(Protocol):
    """Asks providers for messages by our reference (the worker's
    :class:`~dispatcher.sending.send_bridge.SendBridge`)."""

    def look_up_references(
        self, lookups: list[tuple[Provider, str, int]]
    ) -> list[Reconciliation]: ...


@dataclass(frozen=True, slots=True)
class Reconciled:
    """What asking for one message came to, where, when and in how long."""

    outcome: str  # found | not_found | lookup_failed
    provider: str  # the provider that has it (found), else the last one asked
    provider_message_id: str | None
    started_at_ms: int
    latency_ms: int
    reason: str = ""


class Reconciler:
    """Decides which messages to ask for, and where; asks; counts."""

    def __init__(
        self,
        plans: SendPlans,
        asker: ReferenceAsker,
        counts: MessageCounts,
        *,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._plans = plans
        self._asker = asker
        self._counts = counts
        self._clock_ms = clock_ms
        self._askable = frozenset(
            name for name, plan in plans.by_provider.items() if plan.asks_before_resend
        )

    def providers_to_ask(self, claim: Claim, route: Callable[[], Sequence[str]]) -> tuple[str, ...]:
        """Where the claimed message may already be, of the providers that can be asked (none:
        nothing to ask, because it cannot have reached a provider unseen); ``route`` gives the
        message's route, read only for a dead sender's message."""
        if not self._askable:
            return ()
        if claim.previous_state is MessageState.SENDING:
            record = claim.record
            order = tuple(route())
            known = (*order, record.provider) if record and record.provider else order
            return tuple(dict.fromkeys(p for p in known if p in self._askable))
        last = claim.last_attempt
        if last is not None and last.outcome == OutcomeKind.AMBIGUOUS.value:
            return (last.provider,) if last.provider in self._askable else ()
        return ()

    def ask(self, questions: Sequence[tuple[Claim, tuple[str, ...]]]) -> list[Reconciled | None]:
        """For each (claimed message, providers to ask): what asking came to (None when there
        was nothing to ask). Every lookup goes out at once."""
        lookups: list[tuple[Provider, str, int]] = []
        owners: list[tuple[int, str]] = []
        for index, (claim, providers) in enumerate(questions):
            record = claim.record
            assert record is not None
            for name in providers:
                lookups.append((self._plans[name].provider, record.id, record.created_at_ms))
                owners.append((index, name))
        if not lookups:
            return [None] * len(questions)
        started_ms, started = self._clock_ms(), time.perf_counter()
        answers = self._asker.look_up_references(lookups)
        latency_ms = int((time.perf_counter() - started) * 1000)
        by_message: dict[int, list[tuple[str, Reconciliation]]] = {}
        for (index, name), answer in zip(owners, answers, strict=True):
            by_message.setdefault(index, []).append((name, answer))
        results: list[Reconciled | None] = []
        for index in range(len(questions)):
            found = by_message.get(index)
            results.append(None if found is None else self._judged(found, started_ms, latency_ms))
        return results

    def _judged(
        self, answers: list[tuple[str, Reconciliation]], started_ms: int, latency_ms: int
    ) -> Reconciled:
        """One message's answers as one finding: found anywhere wins; any failed lookup leaves
        it unknown; else not found. Each answer is counted."""
        for name, answer in answers:
            self._counts.reconciled(name, answer.outcome)
        for name, answer in answers:
            if answer.outcome == "found":
                return Reconciled("found", name, answer.provider_message_id, started_ms, latency_ms)
        failed = [(name, a) for name, a in answers if a.outcome == "lookup_failed"]
        if failed:
            name, answer = failed[0]
            return Reconciled(
                "lookup_failed", name, None, started_ms, latency_ms, answer.reason or ""
            )
        return Reconciled("not_found", answers[-1][0], None, started_ms, latency_ms)
