"""The send path of one process, put together from the settings: each provider's plan, the
provider gates, the state counts, and the two halves of a job's work (admission, conclusion)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dispatcher.config.settings import Settings
from dispatcher.core.clock import now_ms
from dispatcher.sending.admission import Admitter
from dispatcher.sending.conclusion import Concluder
from dispatcher.sending.reconciliation import Reconciler, ReferenceAsker
from dispatcher.sending.send_plan import SendPlans, build_send_plans
from dispatcher.store.connection import RedisClient
from dispatcher.store.delivery_windows import DeliveryWindows
from dispatcher.store.gates import ProviderGates
from dispatcher.store.message_counts import MessageCounts
from dispatcher.store.messages import MessageStore
from dispatcher.store.rate_limiter import Gcra
from providers.base import Provider

__all__ = ["SendPath", "build_send_path"]


@dataclass(frozen=True, slots=True)
class SendPath:
    """What claims, admits, concludes and records sends."""

    plans: SendPlans
    gates: ProviderGates
    counts: MessageCounts
    admitter: Admitter
    concluder: Concluder


def build_send_path(
    settings: Settings,
    *,
    client: RedisClient,
    store: MessageStore,
    providers: Mapping[str, Provider],
    clock_ms: Callable[[], int] = now_ms,
    gates_fast_path_ms: int = 0,
    buffer_counts: bool = False,
    reference_asker: ReferenceAsker | None = None,
) -> SendPath:
    """The send path through ``providers`` on ``client`` (a worker buffers its counts and uses
    the gates' fast path, see ``worker.gates_cache_ms``; with ``reference_asker``, a message that
    may already be at a provider is asked for there before it is sent again)."""
    plans = build_send_plans(settings, providers)
    gates = ProviderGates(
        client, settings.providers, fast_path_ms=gates_fast_path_ms, clock_ms=clock_ms
    )
    counts = MessageCounts(client, buffered=buffer_counts)
    prices = settings.price_tables()
    concluder = Concluder(
        plans=plans, store=store, gates=gates, counts=counts, prices=prices, clock_ms=clock_ms
    )
    admitter = Admitter(
        plans=plans,
        routes=settings.routes,
        store=store,
        gates=gates,
        rate_checks=Gcra(client),
        concluder=concluder,
        clock_ms=clock_ms,
        reconciler=Reconciler(plans, reference_asker, counts, clock_ms=clock_ms)
        if reference_asker is not None
        else None,
        delivery=DeliveryWindows(client, window_ms=settings.delivery_reports.window_s * 1000),
        quiet_hours=settings.quiet_hours.rules(),
        prices=prices,
    )
    return SendPath(plans, gates, counts, admitter, concluder)
