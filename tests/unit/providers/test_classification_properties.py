"""Properties of classification over any answer a provider (or something pretending to be one)
could send: any status, any headers, any body. Nothing raises, every answer gets one verdict,
and the verdict never claims more than the answer shows."""

from __future__ import annotations

import json
import math

from hypothesis import given
from hypothesis import strategies as st

from providers.adapters.cecula import CeculaProvider, CeculaSettings
from providers.adapters.gosms import GoSmsProvider, GoSmsSettings
from providers.adapters.sinch import SinchProvider, SinchSettings
from providers.adapters.twilio import TwilioProvider, TwilioSettings
from providers.adapters.vonage import VonageProvider, VonageSettings
from providers.adapters.yellowpush import YellowPushProvider, YellowPushSettings
from providers.base import HttpAnswer, InboundReport, Provider
from providers.outcome import (
    OutcomeKind,
    TransportFailure,
    TransportPhase,
    classify_status,
    classify_transport,
    parse_retry_after_s,
)

PROVIDERS: list[Provider] = [
    SinchProvider(SinchSettings(name="s", service_plan_id="p", api_token="t")),
    CeculaProvider(CeculaSettings(name="c", api_key="k", sender="Acme")),
    GoSmsProvider(GoSmsSettings(name="g", api_token="t")),
    YellowPushProvider(YellowPushSettings(name="y", username="u", password="p")),
    TwilioProvider(TwilioSettings(name="t", account_sid="A", auth_token="x", sender="+1")),
    VonageProvider(VonageSettings(name="v", api_key="k", api_secret="s", sender="Acme")),
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
# Bodies as they come: random bytes, random JSON, and JSON objects with the keys providers use.
provider_keys = st.sampled_from(
    ["id", "code", "text", "status", "sid", "message", "messages", "errors", "recipients",
     "error-text", "message-id", "error_code", "more_info", "listErrors", "to"]
)  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(provider_keys, json_values, max_size=5).map(lambda d: json.dumps(d).encode()),
)
headers = st.dictionaries(
    st.sampled_from(["Retry-After", "retry-after", "Content-Type", "X-Anything"]),
    st.text(max_size=40),
    max_size=3,
)
statuses = st.integers(min_value=100, max_value=599)


@given(st.sampled_from(PROVIDERS), statuses, headers, bodies)
def test_any_answer_gets_one_verdict(
    provider: Provider, status: int, answer_headers: dict[str, str], body: bytes
) -> None:
    """Any status, headers and body give a verdict without raising; an error status is never
    taken for an accepted message, and a server error never blames the message."""
    verdict = provider.read_send_answer(
        HttpAnswer(status=status, headers=answer_headers, body=body)
    )
    assert verdict.kind in set(OutcomeKind)
    if status >= 400:
        assert verdict.kind is not OutcomeKind.ACCEPTED
    if status >= 500:
        assert verdict.kind in {OutcomeKind.RETRYABLE, OutcomeKind.PROVIDER_ERROR}
    if verdict.retry_after_s is not None:
        assert math.isfinite(verdict.retry_after_s)
        assert verdict.retry_after_s >= 0
    # Accepted means an id to match reports against; only a 204, and YellowPush (whose SDKs
    # read no id from a 200, see providers/adapters/yellowpush.py), are taken without one.
    if verdict.kind is OutcomeKind.ACCEPTED and status != 204 and provider.name != "y":
        assert verdict.provider_message_id


@given(st.sampled_from(PROVIDERS), bodies)
def test_a_truncated_answer_is_never_accepted_on_a_guess(provider: Provider, body: bytes) -> None:
    """A 2xx whose body was cut at the cap is accepted only if what was read shows it."""
    whole = provider.read_send_answer(HttpAnswer(status=200, headers={}, body=body))
    cut = provider.read_send_answer(HttpAnswer(status=200, headers={}, body=body, truncated=True))
    if cut.kind is OutcomeKind.ACCEPTED:
        assert whole.kind is OutcomeKind.ACCEPTED


@given(
    st.sampled_from(PROVIDERS),
    bodies,
    st.text(max_size=40),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20), max_size=4),
)
def test_any_delivery_report_body_is_read_or_ignored(
    provider: Provider, body: bytes, content_type: str, query: dict[str, str]
) -> None:
    """A report callback with any body, type and query gives a list of reports, never raises."""
    reports = provider.read_delivery_report(
        InboundReport(body, content_type=content_type, query=query)
    )
    assert isinstance(reports, list)
    for report in reports:
        assert report.status in {"delivered", "undelivered", "pending"}


@given(statuses)
def test_status_alone_follows_the_design(status: int) -> None:
    """Unknown 5xx retryable, unknown 4xx rejected, 2xx accepted: never anything else."""
    kind = classify_status(status).kind
    if 200 <= status < 300:
        assert kind is OutcomeKind.ACCEPTED
    elif status >= 500:
        assert kind is OutcomeKind.RETRYABLE
    elif status >= 400:
        assert kind in {
            OutcomeKind.REJECTED,
            OutcomeKind.RETRYABLE,
            OutcomeKind.PROVIDER_ERROR,
        }


@given(st.sampled_from(list(TransportPhase)), st.text(max_size=30))
def test_transport_failures_duplicate_only_when_they_may_have_sent(
    phase: TransportPhase, error: str
) -> None:
    """A failure before the request left is retryable; after, ambiguous."""
    kind = classify_transport(TransportFailure(phase=phase, error=error)).kind
    expected = (
        OutcomeKind.RETRYABLE if phase is TransportPhase.BEFORE_SEND else OutcomeKind.AMBIGUOUS
    )
    assert kind is expected


@given(st.text(max_size=60))
def test_any_retry_after_header_is_a_delay_or_nothing(value: str) -> None:
    """Retry-After with any text is a finite delay of zero or more seconds, or None."""
    delay = parse_retry_after_s({"Retry-After": value})
    assert delay is None or (math.isfinite(delay) and delay >= 0)
