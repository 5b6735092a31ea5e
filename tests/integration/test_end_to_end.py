"""End to end on real parts: send_sms → Redis → a real Celery worker → simulator → accepted."""

from __future__ import annotations

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
from dispatcher.enqueue import Dispatcher
from tests.conftest import (
    REPO,
    SINCH_PLAN,
    SINCH_TOKEN,
    RunningSimulator,
    RunningWorker,
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


def test_publish_failure_keeps_nothing(
    settings: object, redis_client: redis.Redis, redis_server: object
) -> None:
    """When the job cannot be published, the record is removed and the caller gets an error."""
    from dispatcher.celery_app import build_celery_app
    from dispatcher.embedded_redis import free_port
    from dispatcher.settings import Settings

    assert isinstance(settings, Settings)
    dead_broker = build_celery_app(settings, f"redis://127.0.0.1:{free_port()}/0")
    dead_broker.conf.broker_connection_max_retries = 0
    dead_broker.conf.broker_transport_options = {"max_retries": 0}
    core = Dispatcher(settings, redis_url=redis_server.url, celery_app=dead_broker)  # type: ignore[attr-defined]
    with pytest.raises(public_api.EnqueueError):
        core.send_sms("+14155552671", "x", idempotency_key="k-1")
    assert redis_client.keys("smsd:*") == []


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
