"""End to end on real parts: send_sms → Redis → a real Celery worker → simulator → accepted."""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis

import dispatcher as public_api
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import message_key, ready_list_key
from tests.conftest import (
    REPO,
    SINCH_PLAN,
    SINCH_TOKEN,
    RunningSimulator,
    RunningWorker,
    WorkerFactory,
    wait_for,
)

QUEUES = ("sms.high", "sms.normal", "sms.bulk")


def final_status(core: Dispatcher, message_id: str) -> dict[str, object]:
    def done() -> dict[str, object] | None:
        status = core.get_status(message_id)
        return None if status["state"] in ("queued", "sending") else status

    result = wait_for(done, timeout_s=20)
    assert isinstance(result, dict)
    return result


def test_send_sms_is_accepted_by_a_real_worker(
    worker: RunningWorker, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """The public send_sms → worker → simulator: accepted with Sinch's batch id, one request."""
    message_id = public_api.send_sms("+14155552671", "hello from the web app", sender="Acme")
    status = final_status(dispatcher, message_id)
    assert status["state"] == "accepted"
    requests = simulator.state.requests
    assert len(requests) == 1
    sent = requests[0]
    assert sent.authorization_ok
    assert sent.path == f"/xms/v1/{SINCH_PLAN}/batches"
    assert sent.payload["to"] == ["+14155552671"]
    assert sent.payload["body"] == "hello from the web app"
    assert sent.payload["client_reference"] == message_id
    assert status["provider_message_id"] == sent.provider_message_id
    assert public_api.get_status(message_id)["state"] == "accepted"


def test_priorities_each_reach_the_worker(
    worker: RunningWorker, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """Messages of every priority are published to their queue and consumed."""
    ids = [dispatcher.send_sms("+14155552671", p, priority=p) for p in ("high", "normal", "bulk")]
    assert [final_status(dispatcher, i)["state"] for i in ids] == ["accepted"] * 3
    assert simulator.state.total_sends == 3


def test_logs_hold_no_full_number_and_no_token(
    worker: RunningWorker, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """The worker's JSON log lines of a send mask the number and never hold the token or body."""
    message_id = dispatcher.send_sms("+14155552671", "secret body text")
    final_status(dispatcher, message_id)
    lines = [line for line in worker.log().splitlines() if message_id in line]
    events = [json.loads(line) for line in lines if line.startswith("{")]
    assert {e["event"] for e in events} >= {"sms.attempt", "sms.accepted"}
    attempt = next(e for e in events if e["event"] == "sms.attempt")
    assert (attempt["provider"], attempt["attempt"]) == ("sinch", 1)
    assert attempt["task_id"]
    log = worker.log()
    assert "4155552671" not in log
    assert SINCH_TOKEN not in log
    assert "secret body text" not in log


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"to": "+1415555267", "body": "hi"}, "to"),
        ({"to": "+14155552671", "body": ""}, "body"),
        ({"to": "+14155552671", "body": "a" * 2000}, "body"),
    ],
)
def test_bad_input_never_reaches_the_queue(
    dispatcher: Dispatcher, redis_client: redis.Redis, fields: dict[str, str], bad_field: str
) -> None:
    """An invalid number, an empty body, a body over the segment limit: refused, nothing kept."""
    with pytest.raises(public_api.InvalidMessage) as caught:
        dispatcher.send_sms(**fields)
    assert bad_field in caught.value.fields
    assert all(redis_client.llen(q) == 0 for q in QUEUES)
    assert redis_client.keys("smsd:*") == []


def test_idempotent_send(dispatcher: Dispatcher, redis_client: redis.Redis) -> None:
    """Same key and content: same id, one job. Same key, other content: IdempotencyConflict."""
    first = dispatcher.send_sms("+14155552671", "code 1", idempotency_key="order-7")
    again = dispatcher.send_sms("+14155552671", "code 1", idempotency_key="order-7")
    assert first == again
    assert redis_client.llen("sms.normal") == 1
    with pytest.raises(public_api.IdempotencyConflict):
        dispatcher.send_sms("+14155552671", "code 2", idempotency_key="order-7")
    assert redis_client.llen("sms.normal") == 1


def test_unreachable_redis_keeps_nothing(settings: object, redis_client: redis.Redis) -> None:
    """When the record and its job cannot be written (they are written in one step), the caller
    gets EnqueueError and nothing is left behind."""
    from dispatcher.config.settings import Settings
    from dispatcher.devstack.embedded_redis import free_port

    assert isinstance(settings, Settings)
    core = Dispatcher(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(public_api.EnqueueError):
        core.send_sms("+14155552671", "x", idempotency_key="k-1")
    with pytest.raises(public_api.EnqueueError):
        core.send_bulk([{"to": "+14155552671", "body": "y"}])
    assert redis_client.keys("smsd:*") == []
    core.close()


def test_a_message_and_its_job_are_written_together(
    dispatcher: Dispatcher, redis_client: redis.Redis
) -> None:
    """send_sms leaves the record on its queue's ready list and, when it is the only message
    there, one job for the list; messages sent while that job waits only join the list. send_bulk
    queues one job per messages.bulk_job_size messages of a priority, naming them all."""
    message_id = dispatcher.send_sms("+14155552671", "one")
    assert redis_client.hget(message_key(message_id), "state") == "queued"
    (job,) = [json.loads(raw) for raw in redis_client.lrange("sms.normal", 0, -1)]
    assert json.loads(job["body"])[0] == ["sms.normal"]
    assert job["headers"]["task"] == "sms.send_ready"
    joined = [dispatcher.send_sms("+14155552671", f"then {i}") for i in range(2)]
    assert redis_client.llen("sms.normal") == 1
    ready = redis_client.lrange(ready_list_key("sms.normal"), 0, -1)
    assert ready == [message_id, *joined]
    high = dispatcher.send_sms("+14155552671", "urgent", priority="high")
    (high_job,) = [json.loads(raw) for raw in redis_client.lrange("sms.high", 0, -1)]
    assert json.loads(high_job["body"])[0] == ["sms.high"]
    assert redis_client.lrange(ready_list_key("sms.high"), 0, -1) == [high]
    redis_client.delete("sms.normal")
    results = dispatcher.send_bulk(
        [{"to": "+14155552671", "body": f"m{i}", "priority": "bulk"} for i in range(120)]
    )
    ids = [r["id"] for r in results]
    jobs = [json.loads(raw) for raw in reversed(redis_client.lrange("sms.bulk", 0, -1))]
    assert [j["headers"]["task"] for j in jobs] == ["sms.send_batch"] * 3
    named = [json.loads(j["body"])[0][0].split(",") for j in jobs]
    assert [len(n) for n in named] == [50, 50, 20]
    assert [m for n in named for m in n] == ids


def test_send_bulk_queues_each_full_chunk_before_checking_the_rest(
    dispatcher: Dispatcher, redis_client: redis.Redis
) -> None:
    """A chunk of 500 is recorded and its jobs queued as soon as it is full: when the 501st
    message is read, the first 500 are already waiting for a worker, in order, and the rest
    follow with their results in input order."""
    queued_when_asked: list[int] = []

    def messages() -> Any:
        for i in range(620):
            if i == 500:
                jobs = redis_client.lrange("sms.normal", 0, -1)
                queued_when_asked.append(
                    sum(len(json.loads(json.loads(j)["body"])[0][0].split(",")) for j in jobs)
                )
            yield {"to": "+14155552671", "body": f"m{i}"}

    results = dispatcher.send_bulk(messages())
    assert queued_when_asked == [500]
    assert [r["index"] for r in results] == list(range(620))
    assert len({r["id"] for r in results}) == 620
    assert redis_client.llen("sms.normal") == 13  # 10 jobs of 50, then 2 of 50 and one of 20


def test_cli_send_then_status(
    worker: RunningWorker, stack_env: dict[str, str], simulator: RunningSimulator
) -> None:
    """`smsdispatch send` prints only the id; `smsdispatch status ID` shows it accepted."""
    env = {**os.environ, **stack_env}
    cli = [sys.executable, "-m", "dispatcher"]
    sent = subprocess.run(
        [*cli, "send", "--to", "+14155552671", "--body", "hello"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    message_id = sent.stdout.strip()
    assert len(message_id) == 26
    shown = subprocess.run(
        [*cli, "status", message_id, "--wait", "15"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    status = json.loads(shown.stdout)
    assert status["state"] == "accepted"
    assert status["to"] == "+*******2671"


def test_cli_refuses_bad_input_naming_the_field(
    stack_env: dict[str, str], redis_client: redis.Redis
) -> None:
    """`smsdispatch send` with a bad number exits 1 and names the field; nothing is queued."""
    result = subprocess.run(
        [sys.executable, "-m", "dispatcher", "send", "--to", "12", "--body", "x"],
        env={**os.environ, **stack_env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 1
    assert "error: to:" in result.stderr
    assert redis_client.keys("smsd:*") == []


def test_worker_refuses_to_start_without_a_token(stack_env: dict[str, str], tmp_path: Path) -> None:
    """A provider with no token stops the worker at start, naming the variable to set."""
    env = {**os.environ, **stack_env}
    env.pop("SMSD_PROVIDERS__SINCH__API_TOKEN")
    result = subprocess.run(
        [sys.executable, "-m", "dispatcher", "worker"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "SMSD_PROVIDERS__SINCH__API_TOKEN" in result.stderr


# Where each personality receives its sends, and what the request carries of the destination.
PROVIDER_PATHS: dict[str, tuple[str, Callable[[Any], str]]] = {
    "sinch": (f"/xms/v1/{SINCH_PLAN}/batches", lambda p: p["to"][0]),
    "gosms": ("/v1/sms/send", lambda p: "+" + p["phone_number"]),
    "cecula": ("/api/sms/a2p/send", lambda p: "+" + p["recipients"][0]),
    "yellowpush": ("/rest/send_sms", lambda p: "+" + p["to"]),
    "twilio": (
        "/2010-04-01/Accounts/AC00000000000000000000000000000000/Messages.json",
        lambda p: p["To"],
    ),
    "vonage": ("/sms/json", lambda p: "+" + p["to"]),
}


@pytest.mark.parametrize("provider", sorted(PROVIDER_PATHS))
def test_each_provider_end_to_end(
    provider: str,
    worker: RunningWorker,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
) -> None:
    """send_sms(providers=[name]) → worker → that personality → accepted with its message id."""
    to = "+447911123456"
    message_id = public_api.send_sms(to, f"hello through {provider}", providers=[provider])
    status = final_status(dispatcher, message_id)
    assert status["state"] == "accepted", status
    (sent,) = [r for r in simulator.state.requests if r.provider == provider]
    path, destination = PROVIDER_PATHS[provider]
    assert sent.path == path
    assert destination(sent.payload) == to
    assert status["provider"] == provider
    assert status["provider_message_id"] == sent.provider_message_id
    assert sent.provider_message_id


def test_a_worker_keeps_many_sends_in_flight_with_few_job_threads(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """Two job threads, a provider that takes 1.5 s to answer: all 60 messages are at the
    provider, waiting for its answer, at once (the job threads only claim and hand over)."""
    worker_factory({}, "--concurrency", "2")
    simulator.state.latency_ms = 1500
    messages = [{"to": "+14155552671", "body": f"m{i}"} for i in range(60)]
    ids = [r["id"] for r in dispatcher.send_bulk(messages)]
    wait_for(lambda: simulator.state.answering == 60, timeout_s=10)
    states = collections.Counter(dispatcher.get_status(m)["state"] for m in ids)
    assert states == {"sending": 60}
    wait_for(
        lambda: all(dispatcher.get_status(m)["state"] == "accepted" for m in ids), timeout_s=20
    )


def test_a_stopping_worker_records_its_sends_in_flight(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """SIGTERM while 30 sends wait for the provider's answer: the worker waits for them and
    records each one before it exits; nothing is left `sending` for the lease to recover."""
    worker = worker_factory()
    simulator.state.latency_ms = 1000
    messages = [{"to": "+14155552671", "body": f"m{i}"} for i in range(30)]
    ids = [r["id"] for r in dispatcher.send_bulk(messages)]
    wait_for(lambda: simulator.state.answering == 30, timeout_s=10)
    worker.process.terminate()
    worker.process.wait(timeout=30)
    assert [dispatcher.get_status(m)["state"] for m in ids] == ["accepted"] * 30
    assert simulator.state.total_sends == 30


def test_each_message_keeps_its_category(dispatcher: Dispatcher) -> None:
    """The category a message is sent with, or the one its priority gives it, is kept and shown
    by get_status, from send_sms and from each item of send_bulk."""
    told = dispatcher.send_sms("+14155552671", "sale today", category="marketing")
    plain = dispatcher.send_sms("+14155552671", "your code is 123456")
    results = dispatcher.send_bulk(
        [
            {"to": "+14155552671", "body": "newsletter", "priority": "bulk"},
            {
                "to": "+14155552671",
                "body": "receipt",
                "priority": "bulk",
                "category": "transactional",
            },
            {"to": "+14155552671", "body": "?", "category": "spam"},
        ]
    )
    assert [dispatcher.get_status(m)["category"] for m in (told, plain)] == [
        "marketing",
        "transactional",
    ]
    assert [dispatcher.get_status(r["id"])["category"] for r in results[:2]] == [
        "marketing",
        "transactional",
    ]
    assert results[2]["error"]["fields"] == {
        "category": "must be one of transactional, otp, marketing"
    }
