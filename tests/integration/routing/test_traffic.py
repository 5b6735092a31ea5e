"""Traffic control with real workers, Redis and the simulator: the shared rate limit, circuit
breakers, 429 pauses, weighted routes and priority queues."""

from __future__ import annotations

import bisect
import collections
import gc
import json
import subprocess
import sys
import time
from typing import Any

import pytest

from dispatcher.config.settings import Settings
from dispatcher.core.circuit import AttemptClass
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.gates import ProviderGates
from providers.simulator import ScriptedAnswer
from tests.conftest import REPO, RunningSimulator, WorkerFactory, wait_for
from tests.integration.sending.test_retries import FAST_RETRIES, NUMBER, settled

# Long enough for `smsdispatch providers` (a process that starts in 1.3-1.9 s here) to look at the
# open circuit and for the next messages to pass it before the circuit turns half-open.
COOL_DOWN_S = 4.0

TWO_PROVIDERS = {
    **FAST_RETRIES,
    "SMSD_ROUTES__DEFAULT": '["sinch", "twilio"]',
    "SMSD_PROVIDERS__SINCH__ATTEMPTS_BEFORE_FAILOVER": "1",
    "SMSD_PROVIDERS__SINCH__CIRCUIT__FAILURES_IN_A_ROW": "3",
    "SMSD_PROVIDERS__SINCH__CIRCUIT__COOL_DOWN_S": str(COOL_DOWN_S),
}


def numbers(count: int) -> list[str]:
    return [f"+1415555{i:04d}" for i in range(count)]


def sends_to(simulator: RunningSimulator, provider: str) -> list[Any]:
    return [r for r in list(simulator.state.requests) if r.provider == provider]


def providers_cli(env: dict[str, str]) -> dict[str, Any]:
    """`smsdispatch providers --json`, run as an operator would."""
    out = subprocess.run(
        [sys.executable, "-m", "dispatcher", "providers", "--json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        check=True,
        timeout=30,
    )
    status: dict[str, Any] = json.loads(out.stdout)
    return status


def circuit_of(env: dict[str, str], provider: str) -> dict[str, Any]:
    status = providers_cli(env)
    return next(p for p in status["providers"] if p["name"] == provider)


def busiest_second(times_ms: list[int]) -> int:
    """The most sends in any window of 1,000 ms (windows start at each send)."""
    times = sorted(times_ms)
    return max(bisect.bisect_left(times, t + 1000) - i for i, t in enumerate(times))


def test_rate_limit_holds_across_three_workers(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """1,000 messages, three worker processes, Sinch limited to 50/s (burst 2): the workers
    together let no more than 53 go in any second by the times they released them (the limit
    and its burst, and one for a job thread that stamps its send a moment after its check); no
    second at the simulator sees more than 60 (what arrives also carries the delivery's jitter:
    a worker's loop or the simulator held up for a moment on this shared machine hands on what
    waited at once); and the run takes at least 19 s."""
    limit = {"SMSD_PROVIDERS__SINCH__RATE_LIMIT": "50", "SMSD_PROVIDERS__SINCH__RATE_BURST": "2"}
    workers = [worker_factory(limit) for _ in range(3)]
    # Timed once all three have settled after start-up: a worker still in its ready handler
    # (threads starting, the collector's full pass) holds sends it already checked, and they
    # arrive together in the first second.
    wait_for(lambda: all('"worker.collector_settled"' in w.log() for w in workers), timeout_s=30)
    # The simulator runs in this process, which has run the whole suite before: keep its
    # collector from pausing it (and so bunching the arrivals it stamps) during the run.
    gc.collect()
    gc.freeze()
    started = time.monotonic()
    results = dispatcher.send_bulk({"to": to, "body": "rate"} for to in numbers(1000))
    try:
        wait_for(lambda: simulator.state.total_sends >= 1000, timeout_s=60, interval_s=0.2)
    finally:
        gc.unfreeze()
    elapsed_s = time.monotonic() - started
    arrivals = [r.received_at_ms for r in sends_to(simulator, "sinch")]
    assert len(arrivals) == 1000
    statuses = [settled(dispatcher, r["id"]) for r in results]
    released = [s["attempts"][-1]["started_at_ms"] for s in statuses]
    busiest, span_s = busiest_second(arrivals), (max(arrivals) - min(arrivals)) / 1000
    print(
        f"\nrate limit 50/s: busiest second {busiest} at the simulator, "
        f"{busiest_second(released)} as released; sends spread over {span_s:.1f} s"
    )
    assert busiest_second(released) <= 53
    assert busiest <= 60
    assert span_s >= 19
    assert elapsed_s >= 19
    assert collections.Counter(s["state"] for s in statuses) == {"accepted": 1000}
    assert simulator.state.stats()["duplicated_references"] == {}


def test_503_opens_the_circuit_and_a_probe_closes_it(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    stack_env: dict[str, str],
) -> None:
    """Sinch answers 503 to everything: messages are accepted by Twilio; Sinch's circuit opens
    at its third failure, no request reaches it while open, and it closes after recovery."""
    worker_factory(TWO_PROVIDERS)
    simulator.state.start_outage(503, provider="sinch")
    for to in numbers(3):  # one at a time: the circuit opens on the third failure exactly
        status = settled(dispatcher, dispatcher.send_sms(to, "x"))
        assert (status["state"], status["provider"]) == ("accepted", "twilio")
        assert [a["provider"] for a in status["attempts"]] == ["sinch", "twilio"]
    sinch = circuit_of(stack_env, "sinch")
    assert sinch["circuit"] == "open"
    assert "3 failures in a row" in sinch["circuit_reason"]
    ids = [dispatcher.send_sms(to, "y") for to in numbers(8)[3:]]
    for message_id in ids:
        status = settled(dispatcher, message_id)
        assert [a["provider"] for a in status["attempts"]] == ["twilio"]
    assert len(sends_to(simulator, "sinch")) == 3

    simulator.state.end_outage()
    time.sleep(COOL_DOWN_S + 0.1)  # the cool-down
    probe = settled(dispatcher, dispatcher.send_sms(NUMBER, "probe"))
    assert (probe["state"], probe["provider"]) == ("accepted", "sinch")
    assert circuit_of(stack_env, "sinch")["circuit"] == "closed"


def test_401_opens_the_circuit_at_once(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    stack_env: dict[str, str],
) -> None:
    """One 401 from Sinch: that message fails over, the circuit opens at once, and no further
    request reaches Sinch until the cool-down."""
    worker_factory(TWO_PROVIDERS)
    simulator.state.start_outage(401, provider="sinch")
    first = settled(dispatcher, dispatcher.send_sms(NUMBER, "x"))
    assert [(a["provider"], a["outcome"]) for a in first["attempts"]] == [
        ("sinch", "provider_error"),
        ("twilio", "accepted"),
    ]
    sinch = circuit_of(stack_env, "sinch")
    assert sinch["circuit"] == "open"
    assert sinch["circuit_reason"].startswith("HTTP 401 provider_error")
    for message_id in [dispatcher.send_sms(to, "y") for to in numbers(5)]:
        assert settled(dispatcher, message_id)["provider"] == "twilio"
    assert len(sends_to(simulator, "sinch")) == 1
    simulator.state.end_outage()
    time.sleep(COOL_DOWN_S + 0.1)
    assert settled(dispatcher, dispatcher.send_sms(NUMBER, "z"))["provider"] == "sinch"


def test_429_pauses_the_provider_for_every_message(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """A 429 with Retry-After: 2 holds back every send to Sinch for two seconds."""
    worker_factory(FAST_RETRIES)
    simulator.state.script(NUMBER, [ScriptedAnswer(429, headers={"Retry-After": "2"})])
    throttled = dispatcher.send_sms(NUMBER, "x")
    wait_for(lambda: sends_to(simulator, "sinch"))
    others = [dispatcher.send_sms(to, "y") for to in numbers(3)]
    for message_id in [throttled, *others]:
        assert settled(dispatcher, message_id)["state"] == "accepted"
    first, *later = sends_to(simulator, "sinch")
    assert first.status == 429
    assert len(later) == 4
    assert min(r.received_at_ms for r in later) - first.received_at_ms >= 1900


def test_weighted_route_splits_traffic(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """A 75/25 route between Sinch and Twilio: 400 messages split close to 300/100."""
    worker_factory(
        {
            "SMSD_ROUTES__DEFAULT": json.dumps(
                [{"provider": "sinch", "weight": 75}, {"provider": "twilio", "weight": 25}]
            )
        }
    )
    dispatcher.send_bulk({"to": to, "body": "split"} for to in numbers(400))
    wait_for(lambda: simulator.state.total_sends >= 400, timeout_s=30)
    split = collections.Counter(r.provider for r in simulator.state.requests)
    assert split.keys() == {"sinch", "twilio"}
    assert 260 <= split["sinch"] <= 340


def test_high_priority_is_not_stuck_behind_bulk(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """2,000 bulk messages queued, then one high: the high one is accepted within 2 s."""
    simulator.state.latency_ms = 20  # 8 threads: about 400 bulk messages a second at best
    worker_factory()
    dispatcher.send_bulk({"to": to, "body": "bulk", "priority": "bulk"} for to in numbers(2000))
    enqueued = time.monotonic()
    urgent = dispatcher.send_sms(NUMBER, "123456 is your code", priority="high")
    wait_for(
        lambda: dispatcher.get_status(urgent)["state"] == "accepted", timeout_s=10, interval_s=0.02
    )
    waited_s = time.monotonic() - enqueued
    print(f"\nhigh behind 2,000 bulk: accepted after {waited_s:.2f} s")
    assert waited_s < 2, f"the high message waited {waited_s:.2f} s"
    assert simulator.state.total_sends < 2000  # bulk was still queued when it went


@pytest.mark.parametrize("weighted", [False, True])
def test_providers_cli_shows_routes(stack_env: dict[str, str], weighted: bool) -> None:
    env = dict(stack_env)
    if weighted:
        env["SMSD_ROUTES__DEFAULT"] = (
            '[{"provider": "sinch", "weight": 3}, {"provider": "twilio", "weight": 1}]'
        )
    status = providers_cli(env)
    assert {p["name"] for p in status["providers"]} >= {"sinch", "twilio", "vonage"}
    [default] = [r for r in status["routes"] if r["route"] == "routes.default"]
    shares = {p["provider"]: p["share"] for p in default["providers"]}
    assert shares == ({"sinch": 0.75, "twilio": 0.25} if weighted else {"sinch": 1.0})


def test_adaptive_weights_show_a_failing_provider_losing_share(
    stack_env: dict[str, str], settings: Settings, dispatcher: Dispatcher
) -> None:
    """After 60 failures in 100 attempts at Sinch against a clean Twilio, a 50/50 route shows
    Sinch at 0.4 of its weight: a share of 0.4 / 1.4."""
    env = {
        **stack_env,
        "SMSD_ROUTES__DEFAULT": json.dumps(
            [{"provider": "sinch", "weight": 1}, {"provider": "twilio", "weight": 1}]
        ),
        "SMSD_PROVIDERS__SINCH__CIRCUIT__FAILURES_IN_A_ROW": "1000",
        "SMSD_PROVIDERS__SINCH__CIRCUIT__FAILURE_RATE": "1",
    }
    gates = ProviderGates(dispatcher.store_client, settings.providers)
    now_ms = int(time.time() * 1000)
    for i in range(100):
        for provider, failed in (("sinch", i % 5 < 3), ("twilio", False)):
            gates.report(
                provider,
                now_ms=now_ms,
                attempt_class=AttemptClass.FAILURE if failed else AttemptClass.SUCCESS,
                latency_ms=40,
                probe=False,
                reason="HTTP 503 retryable",
                retry_after_s=None,
            )
    [default] = [r for r in providers_cli(env)["routes"] if r["route"] == "routes.default"]
    by_name = {p["provider"]: p for p in default["providers"]}
    assert by_name["sinch"]["health_factor"] == pytest.approx(0.4)
    assert by_name["sinch"]["share"] == pytest.approx(0.4 / 1.4, abs=1e-3)
    assert by_name["twilio"]["share"] == pytest.approx(1 / 1.4, abs=1e-3)
