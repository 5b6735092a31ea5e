"""Which providers a claimed message is looked for at before it is sent again, and how their
answers make one finding (pure rules; the lookups themselves: the integration tests)."""

from __future__ import annotations

from dataclasses import dataclass, field

import redis

from dispatcher.config.settings import ProviderSettings
from dispatcher.core.message_record import Attempt
from dispatcher.core.retry_policy import RetryPolicy
from dispatcher.core.states import MessageState
from dispatcher.sending.reconciliation import Reconciler
from dispatcher.sending.send_plan import ProviderPlan, SendPlans
from dispatcher.store.message_counts import MessageCounts
from dispatcher.store.messages import Claim, ClaimStatus
from providers.adapters.sinch import SinchProvider, SinchSettings
from providers.adapters.twilio import TwilioProvider, TwilioSettings
from providers.base import Provider
from providers.transport import Reconciliation
from tests.message_records import a_record

NOW = 1_764_000_000_000


@dataclass
class _Answers:
    """Answers by provider name, and the lookups asked."""

    by_provider: dict[str, Reconciliation]
    asked: list[tuple[str, str, int]] = field(default_factory=list)

    def look_up_references(self, lookups: list[tuple[Provider, str, int]]) -> list[Reconciliation]:
        self.asked += [(p.name, reference, since) for p, reference, since in lookups]
        return [self.by_provider[p.name] for p, _, _ in lookups]


def _plan(provider: Provider, kind: str, *, asks: bool) -> ProviderPlan:
    return ProviderPlan(
        provider=provider,
        settings=ProviderSettings(kind=kind),
        budget_ms=2_000,
        policy=RetryPolicy(base_s=1, cap_s=10, max_attempts=3),
        rate_max_wait_ms=0,
        counts_segments=False,
        reports_carry_reference=False,
        asks_before_resend=asks,
    )


PLANS = SendPlans(
    by_provider={
        "sinch": _plan(
            SinchProvider(SinchSettings(name="sinch", service_plan_id="p", api_token="t")),
            "sinch",
            asks=True,
        ),
        "sinch_eu": _plan(
            SinchProvider(SinchSettings(name="sinch_eu", service_plan_id="q", api_token="u")),
            "sinch",
            asks=True,
        ),
        "twilio": _plan(
            TwilioProvider(
                TwilioSettings(name="twilio", account_sid="AC1", auth_token="x", sender="+1500")
            ),
            "twilio",
            asks=False,
        ),
    },
    enabled=("sinch", "sinch_eu", "twilio"),
    longest_conversation_s=2.0,
    lease_ms=20_000,
    min_calls={},
)


def _claim(previous: MessageState, last: Attempt | None = None) -> Claim:
    record = a_record("01MSG", at_ms=NOW, state=MessageState.SENDING)
    return Claim(ClaimStatus.CLAIMED, previous, record, "token", last)


def _attempt(outcome: str, provider: str = "sinch") -> Attempt:
    return Attempt(number=1, provider=provider, started_at_ms=NOW, latency_ms=5, outcome=outcome)


def _reconciler(answers: _Answers) -> Reconciler:
    counts = MessageCounts(redis.Redis(), buffered=True)  # counted in memory, never flushed
    return Reconciler(PLANS, answers, counts, clock_ms=lambda: NOW)


ROUTE = ("twilio", "sinch", "sinch_eu")


def test_who_is_asked() -> None:
    """A dead sender's message: every provider of its route that can be asked (its choice was
    not recorded); after an ambiguous attempt: that attempt's provider, if it can be asked;
    after a clear answer, or for a first send: nobody."""
    ask = _reconciler(_Answers({})).providers_to_ask
    assert ask(_claim(MessageState.SENDING), lambda: ROUTE) == ("sinch", "sinch_eu")
    ambiguous = _claim(MessageState.RETRY_SCHEDULED, _attempt("ambiguous", "sinch_eu"))
    assert ask(ambiguous, lambda: ROUTE) == ("sinch_eu",)
    at_twilio = _claim(MessageState.RETRY_SCHEDULED, _attempt("ambiguous", "twilio"))
    assert ask(at_twilio, lambda: ROUTE) == ()
    assert ask(_claim(MessageState.RETRY_SCHEDULED, _attempt("retryable")), lambda: ROUTE) == ()
    assert ask(_claim(MessageState.QUEUED), lambda: ROUTE) == ()


def test_found_anywhere_wins_and_a_failed_lookup_leaves_it_unknown() -> None:
    """Asked at two providers: found at either is found (with that provider's id); otherwise
    one failed lookup makes it lookup_failed; not found at both is not found."""
    cases = [
        (Reconciliation("not_found"), Reconciliation("found", "B7"), ("found", "sinch_eu", "B7")),
        (
            Reconciliation("lookup_failed", reason="http_503"),
            Reconciliation("not_found"),
            ("lookup_failed", "sinch", None),
        ),
        (Reconciliation("not_found"), Reconciliation("not_found"), ("not_found", "sinch_eu", None)),
    ]
    for first, second, (outcome, provider, provider_message_id) in cases:
        answers = _Answers({"sinch": first, "sinch_eu": second})
        found = _reconciler(answers).ask([(_claim(MessageState.SENDING), ("sinch", "sinch_eu"))])
        assert len(found) == 1
        assert found[0] is not None
        assert (found[0].outcome, found[0].provider, found[0].provider_message_id) == (
            outcome,
            provider,
            provider_message_id,
        )
        # The search covers the message's whole life: from its creation on.
        assert answers.asked == [("sinch", "01MSG", NOW), ("sinch_eu", "01MSG", NOW)]


def test_a_batch_asks_only_for_the_messages_that_need_it() -> None:
    answers = _Answers({"sinch": Reconciliation("found", "B1")})
    found = _reconciler(answers).ask(
        [(_claim(MessageState.QUEUED), ()), (_claim(MessageState.SENDING), ("sinch",))]
    )
    assert found[0] is None
    assert found[1] is not None
    assert found[1].outcome == "found"
    assert len(answers.asked) == 1
