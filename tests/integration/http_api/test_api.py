"""The HTTP API on a real server: enqueue, read status, refuse bad input and bad keys."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest
import redis

from tests.conftest import (
    OPERATOR_KEY,
    SENDER_KEY,
    ApiFactory,
    RunningSimulator,
    RunningWorker,
    WorkerFactory,
    wait_for,
)

API_KEY = OPERATOR_KEY


@pytest.fixture
def api_url(api_factory: ApiFactory) -> str:
    return api_factory().url


def exchange(
    method: str,
    url: str,
    body: object = None,
    *,
    key: str | None = API_KEY,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, dict[str, str]]:
    """One request; the status, the JSON answer and the headers."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def call(
    method: str,
    url: str,
    body: object = None,
    *,
    key: str | None = API_KEY,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    status, answer, _ = exchange(method, url, body, key=key, raw=raw, headers=headers)
    return status, answer


def wait_for_state(
    api_url: str, message_id: str, *states: str, key: str = API_KEY, timeout_s: float = 20
) -> None:
    """Poll GET /v1/messages/{id} until the message is in one of ``states``."""

    def reached() -> bool:
        found = call("GET", f"{api_url}/v1/messages/{message_id}", key=key)[1]["state"]
        return bool(found in states)

    wait_for(reached, timeout_s=timeout_s)


def test_post_then_get_accepted(
    api_url: str, worker: RunningWorker, simulator: RunningSimulator
) -> None:
    """POST /v1/messages → 202 queued; GET shows it accepted with the provider id."""
    status, created = call(
        "POST", f"{api_url}/v1/messages", {"to": "+14155552671", "body": "héllo ☃"}
    )
    assert status == 202
    assert created["state"] == "queued"
    assert (created["encoding"], created["segments"]) == ("UCS-2", 1)

    def accepted() -> dict[str, Any] | None:
        _, found = call("GET", f"{api_url}/v1/messages/{created['id']}")
        return found if found["state"] == "accepted" else None

    found = wait_for(accepted, timeout_s=20)
    assert isinstance(found, dict)
    assert found["provider_message_id"] == simulator.state.requests[0].provider_message_id


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"to": "+1415555267", "body": "x"}, "to"),
        ({"to": "+14155552671", "body": ""}, "body"),
        ({"to": "+14155552671", "body": "x", "priority": 3}, "priority"),
        ({"to": "+14155552671", "body": "x", "category": "promo"}, "category"),
        ({"to": "+14155552671", "body": "x", "colour": "red"}, "colour"),
        ({"body": "x"}, "to"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    api_url: str, redis_client: redis.Redis, payload: dict[str, Any], field: str
) -> None:
    """Bad fields → 422 with the field named; nothing is recorded or queued."""
    status, error = call("POST", f"{api_url}/v1/messages", payload)
    assert status == 422
    assert error["error"]["code"] == "invalid_message"
    assert field in error["error"]["fields"]
    assert redis_client.keys("smsd:msg:*") == []
    assert redis_client.llen("sms.normal") == 0


def test_malformed_json_is_400(api_url: str) -> None:
    """A body that is not JSON is refused with a stable code."""
    status, error = call("POST", f"{api_url}/v1/messages", raw=b"{not json")
    assert (status, error["error"]["code"]) == (400, "malformed_json")


@pytest.mark.parametrize("key", [None, "wrong-key", ""])
def test_requests_without_a_valid_key_are_401(api_url: str, key: str | None) -> None:
    """No key, a wrong key or an empty one: 401, JSON error."""
    status, error = call(
        "POST", f"{api_url}/v1/messages", {"to": "+14155552671", "body": "x"}, key=key
    )
    assert (status, error["error"]["code"]) == (401, "unauthorized")


def test_idempotency_key_header(api_url: str, redis_client: redis.Redis) -> None:
    """Idempotency-Key: first 202, repeat 200 with the same id, different content 409."""
    message = {"to": "+14155552671", "body": "x"}
    first = call("POST", f"{api_url}/v1/messages", message, headers={"Idempotency-Key": "a1"})
    again = call("POST", f"{api_url}/v1/messages", message, headers={"Idempotency-Key": "a1"})
    other = call(
        "POST",
        f"{api_url}/v1/messages",
        {**message, "body": "y"},
        headers={"Idempotency-Key": "a1"},
    )
    assert (first[0], again[0], other[0]) == (202, 200, 409)
    assert first[1]["id"] == again[1]["id"]
    assert redis_client.llen("sms.normal") == 1


def test_unknown_message_is_404(api_url: str) -> None:
    """GET of an unknown id → 404 not_found."""
    status, error = call("GET", f"{api_url}/v1/messages/01NOPE")
    assert (status, error["error"]["code"]) == (404, "not_found")


MESSAGE = {"to": "+14155552671", "body": "x"}


def test_send_only_key_may_not_operate(api_url: str) -> None:
    """A send-only key enqueues and reads, but dead letters are refused with 403."""
    status, created = call("POST", f"{api_url}/v1/messages", MESSAGE, key=SENDER_KEY)
    assert status == 202
    assert call("GET", f"{api_url}/v1/messages/{created['id']}", key=SENDER_KEY)[0] == 200
    status, error = call("GET", f"{api_url}/v1/dead-letters", key=SENDER_KEY)
    assert (status, error["error"]["code"]) == (403, "forbidden")
    status, error = call("POST", f"{api_url}/v1/dead-letters/x/replay", key=SENDER_KEY)
    assert (status, error["error"]["code"]) == (403, "forbidden")
    assert call("GET", f"{api_url}/v1/dead-letters")[0] == 200  # the operator key may


def test_each_key_has_its_own_rate_limit(api_factory: ApiFactory) -> None:
    """A key limited to 1 request/s with a burst of 2: the third request at once is 429 with
    Retry-After; the other key is not held back."""
    from dispatcher.api.api_keys import key_digest

    slow = {"sha256": key_digest("slow-key"), "rate_limit": 1, "rate_burst": 2}
    url = api_factory(api={"keys": {"slow": slow}, "api_keys": OPERATOR_KEY}).url
    answers = [exchange("GET", f"{url}/v1/messages/none", key="slow-key") for _ in range(3)]
    assert [a[0] for a in answers] == [404, 404, 429]
    assert answers[2][1]["error"]["code"] == "rate_limited"
    assert answers[2][2]["Retry-After"] == "1"
    assert call("GET", f"{url}/v1/messages/none")[0] == 404


def test_idempotency_keys_are_scoped_per_api_key(api_url: str) -> None:
    """One idempotency key from two API keys makes two messages."""
    headers = {"Idempotency-Key": "order-77"}
    first = call("POST", f"{api_url}/v1/messages", MESSAGE, headers=headers)
    other = call("POST", f"{api_url}/v1/messages", MESSAGE, headers=headers, key=SENDER_KEY)
    assert (first[0], other[0]) == (202, 202)
    assert first[1]["id"] != other[1]["id"]


def test_idempotency_key_in_header_and_field_must_agree(api_url: str) -> None:
    body = {**MESSAGE, "idempotency_key": "a"}
    status, error = call("POST", f"{api_url}/v1/messages", body, headers={"Idempotency-Key": "b"})
    assert (status, error["error"]["fields"]) == (
        422,
        {"idempotency_key": "differs from the Idempotency-Key header"},
    )
    same = call("POST", f"{api_url}/v1/messages", body, headers={"Idempotency-Key": "a"})
    assert same[0] == 202


def test_fifty_concurrent_posts_with_one_key_send_once(
    api_url: str, worker: RunningWorker, simulator: RunningSimulator, redis_client: redis.Redis
) -> None:
    """50 POSTs at once with one Idempotency-Key: one message (one 202, 49 repeats with its
    id), and one request at the provider."""
    answers: list[tuple[int, Any]] = []
    start = threading.Barrier(50)

    def post() -> None:
        start.wait(timeout=10)
        answers.append(
            call("POST", f"{api_url}/v1/messages", MESSAGE, headers={"Idempotency-Key": "race"})
        )

    threads = [threading.Thread(target=post) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 49 + [202]
    assert len({answer["id"] for _, answer in answers}) == 1
    message_id = answers[0][1]["id"]
    wait_for_state(api_url, message_id, "accepted", timeout_s=15)
    assert simulator.state.total_sends == 1
    assert redis_client.hget(f"smsd:msg:{message_id}", "attempt_count") == "1"


def test_oversized_body_is_413_json(api_factory: ApiFactory, redis_client: redis.Redis) -> None:
    url = api_factory(api={"max_body_bytes": 2048}).url
    status, error = call("POST", f"{url}/v1/messages", {**MESSAGE, "body": "x" * 4000})
    assert (status, error["error"]["code"]) == (413, "body_too_large")
    assert redis_client.keys("smsd:msg:*") == []


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "code"),
    [
        (b"[1, 2]", "application/json", 422, "invalid_request"),
        (b'"text"', "application/json", 422, "invalid_request"),
        (b"\xff\xfe", "application/json", 400, "malformed_json"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400, "malformed_json"),
        (b'{"to": NaN, "body": "x"}', "application/json", 400, "malformed_json"),
        (b"to=%2B1", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ],
)
def test_bodies_that_are_no_message(
    api_url: str, raw: bytes, content_type: str, status: int, code: str
) -> None:
    got, error = call(
        "POST", f"{api_url}/v1/messages", raw=raw, headers={"Content-Type": content_type}
    )
    assert (got, error["error"]["code"]) == (status, code)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"to": 14155552671, "body": "x"}, "to"),
        ({"to": "+14155552671", "body": None}, "body"),
        ({"to": "+14155552671", "body": "x", "validity": "soon"}, "validity"),
        ({"to": "+14155552671", "body": "x", "metadata": [1]}, "metadata"),
        ({"to": "+14155552671", "body": "x", "providers": ["nosuch"]}, "providers"),
        ({"to": "+14155552671", "body": "x", "callback_url": "ftp://x"}, "callback_url"),
        ({"to": "+14155552671", "body": "   "}, "body"),
        ({"to": "+14155552671", "body": "x", "self": 1}, "self"),
    ],
)
def test_wrong_types_are_422(
    api_url: str, redis_client: redis.Redis, payload: dict[str, Any], field: str
) -> None:
    status, error = call("POST", f"{api_url}/v1/messages", payload)
    assert status == 422
    assert field in error["error"]["fields"]
    assert redis_client.keys("smsd:msg:*") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=1&limit=2", "limit"),
        ("reason=no_such_reason", "reason"),
        ("provider=" + "x" * 100, "provider"),
        ("provider=a%20b", "provider"),
    ],
)
def test_dead_letter_filters_that_make_no_sense_are_422(
    api_url: str, query: str, field: str
) -> None:
    """A repeated parameter, an unknown reason or a provider name no config could hold is
    refused, naming the parameter, instead of listing nothing."""
    status, error = call("GET", f"{api_url}/v1/dead-letters?{query}")
    assert (status, list(error["error"]["fields"])) == (422, [field])


def test_unknown_path_and_method_are_json(api_url: str) -> None:
    status, error = call("GET", f"{api_url}/v2/nothing")
    assert (status, error["error"]["code"]) == (404, "not_found")
    status, error, headers = exchange("DELETE", f"{api_url}/v1/messages")
    assert (status, error["error"]["code"]) == (405, "method_not_allowed")
    assert headers["Allow"] == "POST"


def test_batch_gives_a_result_per_message(api_url: str, redis_client: redis.Redis) -> None:
    """Good and bad messages in one batch: the good are queued, each bad one names its field."""
    batch = {
        "messages": [
            MESSAGE,
            {"to": "+1415", "body": "x"},
            {"to": "+14155552671"},
            {**MESSAGE, "body": "second"},
        ]
    }
    status, answer = call("POST", f"{api_url}/v1/messages:batch", batch)
    assert status == 200
    assert (answer["accepted"], answer["refused"]) == (2, 2)
    results = answer["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3]
    assert results[0]["state"] == "queued"
    assert results[1]["error"]["fields"] == {"to": results[1]["error"]["fields"]["to"]}
    assert results[2]["error"]["fields"] == {"body": "is required"}
    (job,) = [json.loads(raw) for raw in redis_client.lrange("sms.normal", 0, -1)]
    assert json.loads(job["body"])[0][0].split(",") == [results[0]["id"], results[3]["id"]]


@pytest.mark.parametrize(
    ("batch", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": {"to": "+1"}}, "messages"),
        ({"messages": [MESSAGE], "extra": 1}, "extra"),
        ({"messages": [MESSAGE, "text"]}, "messages[1]"),
        ({"messages": [MESSAGE] * 1001}, "messages"),
    ],
)
def test_batches_that_make_no_sense_are_422(
    api_url: str, redis_client: redis.Redis, batch: dict[str, Any], field: str
) -> None:
    status, error = call("POST", f"{api_url}/v1/messages:batch", batch)
    assert status == 422
    assert field in error["error"]["fields"]
    assert redis_client.llen("sms.normal") == 0


def test_dead_letters_listed_and_replayed(
    api_url: str, worker_factory: WorkerFactory, simulator: RunningSimulator
) -> None:
    """A 400 dead-letters a message; the operator lists it and replays it once over HTTP."""
    from providers.simulator import ScriptedAnswer

    worker_factory()
    simulator.state.script(
        "+14155550100", [ScriptedAnswer(400, code="syntax_invalid_parameter_format")]
    )
    _, created = call("POST", f"{api_url}/v1/messages", {"to": "+14155550100", "body": "x"})
    wait_for_state(api_url, created["id"], "failed", timeout_s=15)
    status, page = call("GET", f"{api_url}/v1/dead-letters?reason=rejected&since=1h&limit=10")
    assert status == 200
    assert page["total"] == 1
    assert page["items"][0]["id"] == created["id"]
    assert page["items"][0]["to"] == "+*******0100"
    status, replayed = call("POST", f"{api_url}/v1/dead-letters/{created['id']}/replay")
    assert (status, replayed["replay_of"]) == (202, created["id"])
    wait_for_state(api_url, replayed["id"], "accepted", timeout_s=15)
    status, error = call("POST", f"{api_url}/v1/dead-letters/{created['id']}/replay")
    assert (status, error["error"]["code"]) == (404, "not_found")
    status, error = call("GET", f"{api_url}/v1/dead-letters?limit=0")
    assert (status, error["error"]["fields"]) == (
        422,
        {"limit": "must be a whole number from 1 to 1000"},
    )
    status, error = call("GET", f"{api_url}/v1/dead-letters?since=yesterday")
    assert (status, list(error["error"]["fields"])) == (422, ["since"])


def test_readyz_needs_redis_and_a_worker_that_consumes(
    api_factory: ApiFactory, worker_factory: WorkerFactory
) -> None:
    """No worker: 503. An idle worker keeps itself fresh by running its canary jobs; stopped
    (SIGSTOP), it goes stale within three heartbeats and /readyz names it; resumed, ready again."""
    import os
    import signal
    import time

    from dispatcher.config.settings import WorkerSettings

    api_url = api_factory(worker=WorkerSettings(heartbeat_s=0.3)).url
    status, ready = call("GET", f"{api_url}/readyz", key=None)
    assert (status, ready["ready"], ready["workers"]) == (503, False, 0)
    assert "canary" in ready["reason"]
    worker = worker_factory({"SMSD_WORKER__HEARTBEAT_S": "0.3"})
    wait_for(lambda: call("GET", f"{api_url}/readyz", key=None)[0] == 200)
    time.sleep(1.5)  # idle: only canaries keep it fresh
    status, ready = call("GET", f"{api_url}/readyz", key=None)
    assert (status, ready["workers"], ready["stale"]) == (200, 1, [])
    os.kill(worker.process.pid, signal.SIGSTOP)
    try:
        wait_for(lambda: call("GET", f"{api_url}/readyz", key=None)[0] == 503, timeout_s=5)
        ready = call("GET", f"{api_url}/readyz", key=None)[1]
        assert ready["stale"]
        assert ready["stale"][0].endswith(f".{worker.process.pid}")
    finally:
        os.kill(worker.process.pid, signal.SIGCONT)
    wait_for(lambda: call("GET", f"{api_url}/readyz", key=None)[0] == 200, timeout_s=5)
    assert call("GET", f"{api_url}/healthz", key=None) == (200, {"ok": True})


def test_metrics_show_queues_and_requests(api_url: str) -> None:
    call("POST", f"{api_url}/v1/messages", MESSAGE)
    request = urllib.request.Request(f"{api_url}/metrics")
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    assert 'smsdispatch_queue_depth{queue="sms.normal"} 1.0' in text  # the ready list's job
    assert 'smsdispatch_ready_messages{queue="sms.normal"} 1.0' in text
    assert "smsdispatch_dead_letters 0.0" in text
    assert 'smsdispatch_circuit_state{provider="sinch"} 0.0' in text
    assert 'smsdispatch_api_requests_total{route="/v1/messages",status="202"} 1.0' in text
