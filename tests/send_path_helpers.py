"""The send path run in the test's own thread: admission, the provider exchange, conclusion."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from dispatcher.config.provider_adapters import build_providers
from dispatcher.config.settings import Settings
from dispatcher.core.clock import now_ms
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.sending.pending_send import PendingSend
from dispatcher.sending.send_path import SendPath, build_send_path
from dispatcher.store.gates import ProviderGates
from providers.base import OutboundSms, Provider
from providers.transport import SendOutcome


class Exchanger(Protocol):
    """Sends one SMS through a provider and waits for the answer (a ``SendBridge``)."""

    def send(self, provider: Provider, sms: OutboundSms) -> SendOutcome: ...


class DirectCourier:
    """One delivery per call, the whole of it in the calling thread; the worker runs the same
    steps with the exchange on its event loop (``SendPipeline``)."""

    def __init__(
        self,
        settings: Settings,
        dispatcher: Dispatcher,
        exchanger: Exchanger,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.path: SendPath = build_send_path(
            settings,
            client=dispatcher.store_client,
            store=dispatcher.store,
            providers=build_providers(settings),
            clock_ms=clock_ms,
        )
        self._exchanger = exchanger

    @property
    def gates(self) -> ProviderGates:
        return self.path.gates

    def begin(self, message_id: str, *, task_id: str | None = None) -> PendingSend | str:
        return self.path.admitter.begin(message_id, task_id=task_id)

    def complete(
        self,
        pending: PendingSend,
        outcome: SendOutcome,
        *,
        latency_ms: int,
        report_to_gates: bool = True,
    ) -> str:
        """Conclude the send and record it; the state it reached."""
        concluded = self.path.concluder.conclude(
            pending, outcome, latency_ms=latency_ms, report_to_gates=report_to_gates
        )
        self.path.concluder.record_one(concluded)
        return concluded.decision.state.value

    def deliver(self, message_id: str, *, task_id: str | None = None) -> str:
        """Send message ``message_id`` once if it is still to be sent; what happened."""
        begun = self.begin(message_id, task_id=task_id)
        if isinstance(begun, str):
            return begun
        started = time.perf_counter()
        outcome = self._exchanger.send(begun.provider, begun.sms)
        latency_ms = int((time.perf_counter() - started) * 1000)
        return self.complete(begun, outcome, latency_ms=latency_ms)
