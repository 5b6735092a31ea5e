"""Hostile provider answers over real HTTP: an HTML error page, truncated JSON, a 10 MiB body, an
answer that stalls after its headers, a connection closed mid-body. Each is classified, each
attempt ends within the provider's timeout, and a worker fed nothing else keeps running with
bounded memory.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import psutil
import pytest
import redis

from dispatcher.config.provider_adapters import build_providers
from dispatcher.config.settings import Settings
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.sending.send_bridge import SendBridge
from providers.base import OutboundSms
from providers.outcome import OutcomeKind
from providers.simulator import ScriptedAnswer
from tests.conftest import RunningSimulator, WorkerFactory, wait_for
from tests.integration.reliability.test_reliability import all_final, numbers

# The simulator fixture gives every provider a 2 s timeout.
TIMEOUT_S = 2.0
HTML_502 = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>"
    "<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)

# (name, scripted answer, the outcome its attempt must get)
HOSTILE: list[tuple[str, dict[str, object], OutcomeKind]] = [
    (
        "html_502",
        {"status": 502, "raw": HTML_502, "headers": {"Content-Type": "text/html"}},
        OutcomeKind.RETRYABLE,
    ),
    (
        "truncated_json_201",
        {"status": 201, "raw": '{"id": "01FC6662', "headers": {"Content-Type": "application/json"}},
        OutcomeKind.AMBIGUOUS,  # a 2xx whose id cannot be read: the provider may have it
    ),
    (
        "truncated_json_400",
        {"status": 400, "raw": '{"code": "syntax_in', "headers": {"Content-Type": "text/json"}},
        OutcomeKind.REJECTED,  # unparseable: the status alone decides
    ),
    ("huge_body_503", {"status": 503, "fault": "huge_body"}, OutcomeKind.RETRYABLE),
    ("huge_body_201", {"status": 201, "fault": "huge_body"}, OutcomeKind.AMBIGUOUS),
    ("stall_after_headers", {"status": 201, "fault": "stall_after_headers"}, OutcomeKind.AMBIGUOUS),
    ("close_mid_body", {"status": 201, "fault": "close_mid_body"}, OutcomeKind.AMBIGUOUS),
]
# Not hostile, only slow: a whole answer whose body arrives in two parts is read whole.
SPLIT_201 = {
    "status": 201,
    "fault": "split_body",
    "stall_s": 0.3,
    "raw": '{"id": "01FC66621XXXXX119Z8PMV1QPQ", "to": ["14155550100"], "canceled": false}',
}


@pytest.fixture
def bridge() -> Iterator[SendBridge]:
    """The worker's send bridge: its own loop thread and pooled sessions."""
    made = SendBridge(connections_per_provider=8)
    yield made
    made.close()


@pytest.mark.parametrize(
    "case",
    [*HOSTILE, ("split_body_201", SPLIT_201, OutcomeKind.ACCEPTED)],
    ids=[*(h[0] for h in HOSTILE), "split_body_201"],
)
def test_each_hostile_answer_is_classified_within_the_timeout(
    settings: Settings,
    simulator: RunningSimulator,
    bridge: SendBridge,
    case: tuple[str, dict[str, object], OutcomeKind],
) -> None:
    """The worker's own send bridge reads the hostile answer into its outcome, never waiting
    past the provider's timeout."""
    name, answer, outcome = case
    to = "+14155550100"
    simulator.state.script(to, [ScriptedAnswer.from_json(answer)])
    sinch = build_providers(settings)["sinch"]
    sms = OutboundSms(
        message_id=f"01HOSTILE{name.upper()}",
        to_e164=to,
        body="hostile",
        sender=None,
        encoding="GSM-7",
        segments=1,
        valid_until_ms=int(time.time() * 1000) + 60_000,
    )
    started = time.monotonic()
    sent = bridge.send(sinch, sms)
    took_s = time.monotonic() - started
    assert sent.verdict.kind is outcome, sent.verdict
    assert took_s <= TIMEOUT_S + 0.5
    assert len(simulator.requests_for(to)) == 1
    # The pooled connection is usable again at once: the next send is a plain success.
    after = bridge.send(sinch, sms)
    assert after.verdict.kind is OutcomeKind.ACCEPTED, after.verdict


def test_a_worker_fed_hostile_answers_keeps_running(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """140 messages, each answered only with one kind of hostile answer: every one ends final,
    every attempt within the timeout, the worker stays up with bounded memory and then sends a
    plain message at once."""
    env = {
        "SMSD_RETRY__BASE_S": "0.1",
        "SMSD_RETRY__CAP_S": "0.3",
        "SMSD_RETRY__MAX_ATTEMPTS": "2",
        "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.1",
        # Keep Sinch's circuit closed, so every message meets its hostile answer.
        "SMSD_PROVIDERS__SINCH__CIRCUIT__FAILURES_IN_A_ROW": "10000",
        "SMSD_PROVIDERS__SINCH__CIRCUIT__MIN_CALLS": "10000",
    }
    worker = worker_factory(env, "--concurrency", "16")
    process = psutil.Process(worker.process.pid)
    rss_before_mb = process.memory_info().rss / 1e6
    per_kind = 20
    expected: dict[str, str] = {}
    for index, (_, answer, outcome) in enumerate(HOSTILE):
        for to in numbers(per_kind, offset=100 * index):
            simulator.state.script(to, [ScriptedAnswer.from_json(answer)], repeat_last=True)
        ids = [
            dispatcher.send_sms(to, "hostile", providers=["sinch"])
            for to in numbers(per_kind, offset=100 * index)
        ]
        expected.update(dict.fromkeys(ids, outcome.value))
    started = time.monotonic()
    final = all_final(redis_client, list(expected), timeout_s=90)
    took_s = time.monotonic() - started

    assert final["failed"] == len(expected), final
    latencies_ms: list[int] = []
    outcomes: Counter[tuple[str, str]] = Counter()
    for message_id, wanted in expected.items():
        status = dispatcher.get_status(message_id)
        assert status["attempts"], status
        for attempt in status["attempts"]:
            outcomes[(wanted, attempt["outcome"])] += 1
            latencies_ms.append(attempt["latency_ms"])
    assert all(seen == wanted for wanted, seen in outcomes), outcomes
    assert max(latencies_ms) <= (TIMEOUT_S + 1) * 1000
    assert worker.process.poll() is None
    rss_after_mb = process.memory_info().rss / 1e6
    assert rss_after_mb - rss_before_mb < 40, (rss_before_mb, rss_after_mb)

    plain = dispatcher.send_sms("+14155559999", "after the storm", providers=["sinch"])
    wait_for(lambda: dispatcher.get_status(plain)["state"] == "accepted", timeout_s=10)
    attempts = sum(outcomes.values())
    print(
        f"\nreliability: hostile answers: {len(expected)} messages, {attempts} attempts over "
        f"{len(HOSTILE)} kinds, each classified as expected; slowest attempt "
        f"{max(latencies_ms)} ms (timeout {TIMEOUT_S * 1000:.0f}); worker RSS "
        f"{rss_before_mb:.1f} -> {rss_after_mb:.1f} MB; all final in {took_s:.1f} s"
    )
