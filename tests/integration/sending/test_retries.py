"""Retries, dead letters and duplicate suppression with real workers, Redis and the simulator."""

from __future__ import annotations

import time
from typing import Any

import psutil
import pytest
import redis

from dispatcher.core.names import SEND_TASK
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.intake.replay import replay_dead_letter
from dispatcher.ops.dead_letters import DeadLetterFilter, DeadLetters
from providers.simulator import ScriptedAnswer
from tests.conftest import RunningSimulator, WorkerFactory, wait_for

NUMBER = "+14155552671"
FAST_RETRIES = {
    "SMSD_RETRY__BASE_S": "0.1",
    "SMSD_RETRY__CAP_S": "0.3",
    "SMSD_RETRY__MAX_ATTEMPTS": "4",
    "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05",
}
PENDING = ("queued", "sending", "retry_scheduled")


def settled(core: Dispatcher, message_id: str, timeout_s: float = 20) -> dict[str, Any]:
    """Wait until the message leaves queued / sending / retry_scheduled."""

    def done() -> dict[str, Any] | None:
        status = core.get_status(message_id)
        return None if status["state"] in PENDING else status

    result = wait_for(done, timeout_s=timeout_s)
    assert isinstance(result, dict)
    return result


def script(
    simulator: RunningSimulator, *answers: ScriptedAnswer, repeat_last: bool = False
) -> None:
    simulator.state.script(NUMBER, list(answers), repeat_last=repeat_last)


def test_503_503_201_is_accepted_after_three_attempts(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """Two retryable answers, then success: accepted after exactly 3 attempts, each recorded."""
    worker_factory(FAST_RETRIES)
    script(simulator, ScriptedAnswer(503), ScriptedAnswer(503))
    message_id = dispatcher.send_sms(NUMBER, "third time lucky")
    status = settled(dispatcher, message_id)
    assert status["state"] == "accepted"
    assert [(a["http_status"], a["outcome"]) for a in status["attempts"]] == [
        (503, "retryable"),
        (503, "retryable"),
        (201, "accepted"),
    ]
    assert [a["number"] for a in status["attempts"]] == [1, 2, 3]
    assert simulator.state.sends_by_reference[message_id] == 3
    assert status["possible_duplicate"] is False


def test_400_is_dead_lettered_after_one_attempt(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """A rejection is final: one attempt, failed, in the dead letters with Sinch's code and text."""
    worker_factory(FAST_RETRIES)
    body = {"code": "syntax_invalid_parameter_format", "text": "Invalid MSISDN in 'to'"}
    script(simulator, ScriptedAnswer(400, body=body))
    message_id = dispatcher.send_sms(NUMBER, "x")
    status = settled(dispatcher, message_id)
    assert (status["state"], status["final_reason"]) == ("failed", "rejected")
    letter = DeadLetters(dispatcher.store).show(message_id)
    assert len(letter["attempts"]) == 1
    assert letter["attempts"][0]["provider_code"] == "syntax_invalid_parameter_format"
    assert letter["attempts"][0]["reason"] == "Invalid MSISDN in 'to'"
    time.sleep(0.5)
    assert simulator.state.sends_by_reference[message_id] == 1


def test_retry_after_is_honoured(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """429 with Retry-After: 2 → the next attempt comes no earlier than 2 s later."""
    worker_factory(FAST_RETRIES)
    script(simulator, ScriptedAnswer(429, headers={"Retry-After": "2"}))
    message_id = dispatcher.send_sms(NUMBER, "x")
    status = settled(dispatcher, message_id)
    assert status["state"] == "accepted"
    received = [
        r.received_at_ms for r in simulator.state.requests if r.client_reference == message_id
    ]
    assert len(received) == 2
    assert received[1] - received[0] >= 2000
    first, second = status["attempts"]
    assert second["started_at_ms"] - first["started_at_ms"] >= 2000


def test_always_503_is_dead_lettered_after_the_maximum(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """A provider that never recovers: dead-lettered after max_attempts (4), no attempt after."""
    worker_factory(FAST_RETRIES)
    script(simulator, ScriptedAnswer(503), repeat_last=True)
    message_id = dispatcher.send_sms(NUMBER, "x")
    status = settled(dispatcher, message_id)
    assert (status["state"], status["final_reason"]) == ("failed", "attempts_exhausted")
    assert status["attempt_count"] == 4
    time.sleep(1.0)
    assert simulator.state.sends_by_reference[message_id] == 4


def test_validity_runs_out_while_the_provider_is_down(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """A validity of 3 s against a provider that is down → expired, in the dead letters."""
    worker_factory({**FAST_RETRIES, "SMSD_RETRY__MAX_ATTEMPTS": "100", "SMSD_RETRY__CAP_S": "1"})
    simulator.state.start_outage(503)
    started = time.time()
    message_id = dispatcher.send_sms(NUMBER, "x", validity=3)
    status = settled(dispatcher, message_id, timeout_s=15)
    assert (status["state"], status["final_reason"]) == ("expired", "expired")
    assert time.time() - started < 4.5
    assert status["attempt_count"] >= 2
    assert all(a["started_at_ms"] < status["valid_until_ms"] for a in status["attempts"])
    expired = DeadLetters(dispatcher.store).page(DeadLetterFilter(reason="expired"))
    assert expired[0]["id"] == message_id


@pytest.mark.parametrize(
    ("on_ambiguous", "state"), [("retry", "accepted"), ("dead_letter", "failed")]
)
def test_read_timeout_is_handled_as_configured(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    on_ambiguous: str,
    state: str,
) -> None:
    """A read timeout is ambiguous: retried and flagged, or dead-lettered, per provider setting
    (here without asking Sinch first: ``tests/integration/sending/test_reconciliation.py``)."""
    worker_factory(
        {
            **FAST_RETRIES,
            "SMSD_PROVIDERS__SINCH__ON_AMBIGUOUS": on_ambiguous,
            "SMSD_PROVIDERS__SINCH__ASK_BEFORE_RESEND": "false",
        }
    )
    script(simulator, ScriptedAnswer(success=True, delay_ms=3000))  # the timeout is 2 s
    message_id = dispatcher.send_sms(NUMBER, "x")
    status = settled(dispatcher, message_id)
    assert status["state"] == state
    assert status["attempts"][0]["outcome"] == "ambiguous"
    assert status["possible_duplicate"] is True
    if on_ambiguous == "retry":
        assert len(status["attempts"]) == 2
        assert status["attempts"][1]["possible_duplicate"] is True
    else:
        assert status["final_reason"] == "ambiguous"
        assert len(status["attempts"]) == 1


def test_two_workers_and_redelivered_jobs_send_once(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
) -> None:
    """Three jobs for one message on two workers, the first slow: the provider sees it once."""
    worker_factory(FAST_RETRIES)
    worker_factory(FAST_RETRIES)
    simulator.state.latency_ms = 500
    message_id = dispatcher.send_sms(NUMBER, "once only")
    for _ in range(2):  # as Redis would redeliver an unacknowledged job
        dispatcher.celery_app.send_task(SEND_TASK, args=[message_id], queue="sms.normal")
    status = settled(dispatcher, message_id)
    assert status["state"] == "accepted"
    time.sleep(1.0)
    dispatcher.celery_app.send_task(SEND_TASK, args=[message_id], queue="sms.normal")
    time.sleep(1.0)
    assert simulator.state.sends_by_reference[message_id] == 1
    assert dispatcher.get_status(message_id)["attempt_count"] == 1


def test_replay_after_recovery_is_accepted_and_linked(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """A dead letter replayed once the provider recovered is accepted; both records link."""
    worker_factory(FAST_RETRIES)
    simulator.state.start_outage(503)
    original = dispatcher.send_sms(NUMBER, "replay me")
    assert settled(dispatcher, original)["state"] == "failed"
    simulator.state.end_outage()
    letters = DeadLetters(dispatcher.store)
    replacement = replay_dead_letter(dispatcher, original)
    status = settled(dispatcher, replacement)
    assert status["state"] == "accepted"
    assert status["replay_of"] == original
    assert status["attempt_count"] == 1  # a fresh budget
    assert dispatcher.get_status(original)["replayed_as"] == replacement
    assert original not in letters.matching_ids(DeadLetterFilter())


def test_waiting_retries_do_not_grow_the_worker(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """5,000 messages waiting to retry wait in Redis: the worker's RSS grows by < 20 MB."""
    worker = worker_factory({"SMSD_RETRY__BASE_S": "600", "SMSD_RETRY__CAP_S": "600"})
    simulator.state.start_outage(503)
    process = psutil.Process(worker.process.pid)
    warm = [dispatcher.send_sms(NUMBER, f"warm {i}") for i in range(300)]
    wait_for(lambda: redis_client.zcard("smsd:delay") == len(warm), timeout_s=60)
    before = process.memory_info().rss
    results = dispatcher.send_bulk({"to": NUMBER, "body": f"m {i}"} for i in range(5000))
    assert all("id" in r for r in results)
    wait_for(lambda: redis_client.zcard("smsd:delay") == 5300, timeout_s=120, interval_s=0.5)
    after = process.memory_info().rss
    growth_mb = (after - before) / 2**20
    print(
        f"worker RSS with 5,000 retries waiting: {before / 2**20:.1f} MB -> {after / 2**20:.1f} MB"
    )
    assert growth_mb < 20
    assert redis_client.llen("sms.normal") == 0


@pytest.mark.parametrize("ask", [True, False])
def test_killed_worker_mid_send_is_recovered_and_flagged(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator, ask: bool
) -> None:
    """kill -9 during a send: another worker takes it over in seconds. It asks Sinch first and
    finds the batch the dead worker sent: accepted, not sent again; told not to ask, it sends it
    again, marked possible_duplicate."""
    env = {
        **FAST_RETRIES,
        "SMSD_WORKER__LEASE_MARGIN_S": "1",  # lease = 2 s timeout (+ 2 s lookup) + 1 s
        "SMSD_PROVIDERS__SINCH__ASK_BEFORE_RESEND": "true" if ask else "false",
    }
    first = worker_factory(env)
    simulator.state.latency_ms = 1500
    message_id = dispatcher.send_sms(NUMBER, "in flight at the kill")
    wait_for(lambda: dispatcher.get_status(message_id)["state"] == "sending", timeout_s=10)
    first.process.kill()
    first.process.wait(timeout=10)
    simulator.state.latency_ms = 0
    killed_at = time.monotonic()
    worker_factory(env)
    status = settled(dispatcher, message_id, timeout_s=30)
    assert status["state"] == "accepted"
    assert time.monotonic() - killed_at < 15  # not Celery's one-hour visibility timeout
    if ask:
        assert status["attempts"][-1]["reconciled"] == "found"
        assert simulator.state.sends_by_reference[message_id] == 1
        return
    assert status["possible_duplicate"] is True
    assert status["attempts"][-1]["possible_duplicate"] is True
    assert simulator.state.sends_by_reference[message_id] <= 2
