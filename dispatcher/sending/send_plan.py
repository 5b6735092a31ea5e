"""What sending through each provider needs, worked out once at start-up: its adapter and
settings, its conversation budget, the retry policy in force for it, how far a message may wait
for its rate-limit slot, how long an accepted message waits for its delivery report, when its
status is looked up (providers that report only when asked), and the adapter's flags (whether
its rate limit counts message parts, whether its delivery reports carry our message id)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dispatcher.config.settings import ProviderSettings, Settings
from dispatcher.core.retry_policy import RetryPolicy, resolve_policy
from providers.base import Provider, ReferenceLookup, StatusPolling
from providers.transport import conversation_budget_s

__all__ = ["ProviderPlan", "SendPlans", "build_send_plans"]

# A half-open circuit's probes get the provider's whole conversation budget plus this to answer.
_PROBE_MARGIN_MS = 2_000
# The longest conversation assumed when no provider is configured.
_DEFAULT_CONVERSATION_S = 10.0


@dataclass(frozen=True, slots=True)
class ProviderPlan:
    """One provider's part in sending."""

    provider: Provider
    settings: ProviderSettings
    budget_ms: int  # the longest one send through it may take
    policy: RetryPolicy
    rate_max_wait_ms: int
    counts_segments: bool
    reports_carry_reference: bool
    report_timeout_ms: int = 259_200_000  # after acceptance, until delivery_unknown
    # The waits between status lookups (ms) of a provider that reports only when asked and is
    # to be asked; empty for the others.
    poll_schedule_ms: tuple[int, ...] = ()
    # Whether it is asked for a message by our reference before that message is sent again.
    asks_before_resend: bool = False

    @property
    def probe_window_ms(self) -> int:
        """How long a half-open circuit's probe has to answer."""
        return self.budget_ms + _PROBE_MARGIN_MS


@dataclass(frozen=True, slots=True)
class SendPlans:
    """Every enabled provider's plan, and what the whole send path derives from them."""

    by_provider: Mapping[str, ProviderPlan]
    enabled: tuple[str, ...]  # in configured order
    longest_conversation_s: float
    # How long a claim holds a message: the longest conversation (and lookup before it) and a
    # margin.
    lease_ms: int
    min_calls: Mapping[str, int]  # each provider's circuit min_calls, for adaptive weights

    def __getitem__(self, provider: str) -> ProviderPlan:
        return self.by_provider[provider]


def build_send_plans(settings: Settings, providers: Mapping[str, Provider]) -> SendPlans:
    """The plans of the configured providers that are enabled and built."""
    default_policy = settings.retry.policy()
    plans: dict[str, ProviderPlan] = {}
    for name, cfg in settings.providers.items():
        adapter = providers.get(name)
        if adapter is None or not cfg.enabled:
            continue
        plans[name] = ProviderPlan(
            provider=adapter,
            settings=cfg,
            budget_ms=int(conversation_budget_s(adapter) * 1000),
            policy=resolve_policy(default_policy, cfg.retry.policy() if cfg.retry else None),
            rate_max_wait_ms=int(cfg.rate_max_wait_s * 1000),
            counts_segments=bool(adapter.counts_segments),
            reports_carry_reference=bool(adapter.reports_carry_reference),
            report_timeout_ms=1000
            * (cfg.delivery_report_timeout_s or settings.delivery_reports.timeout_s),
            poll_schedule_ms=tuple(1000 * wait for wait in cfg.poll_schedule_s)
            if cfg.poll_reports and isinstance(adapter, StatusPolling)
            else (),
            asks_before_resend=cfg.ask_before_resend and isinstance(adapter, ReferenceLookup),
        )
    longest_s = max(
        (conversation_budget_s(p) for p in providers.values()), default=_DEFAULT_CONVERSATION_S
    )
    # A message may be asked for before its send: the lease covers the longest lookup too.
    longest_lookup_s = max(
        (p.provider.timeout_s for p in plans.values() if p.asks_before_resend), default=0.0
    )
    return SendPlans(
        by_provider=plans,
        enabled=tuple(plans),
        longest_conversation_s=longest_s,
        lease_ms=int((longest_s + longest_lookup_s + settings.worker.lease_margin_s) * 1000),
        min_calls={n: p.circuit.min_calls for n, p in settings.providers.items()},
    )
