"""The HTTP API on a real server: enqueue, read status, refuse bad input and bad keys."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from aiohttp import web

from dispatcher.api import build_api
from dispatcher.embedded_redis import free_port
from dispatcher.enqueue import Dispatcher
from dispatcher.runtime import LoopThread
from tests.conftest import RunningSimulator, RunningWorker, wait_for

API_KEY = "test-api-key-31c9"


@pytest.fixture
def api_url(dispatcher: Dispatcher) -> Iterator[str]:
    loop_thread = LoopThread("api-loop")
    port = free_port()

    async def start() -> web.AppRunner:
        runner = web.AppRunner(build_api(dispatcher, [API_KEY]), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    runner = loop_thread.run(start(), timeout_s=10)
    yield f"http://127.0.0.1:{port}"
    loop_thread.run(runner.cleanup(), timeout_s=10)
    loop_thread.stop()


def call(
    method: str,
    url: str,
    body: object = None,
    *,
    key: str | None = API_KEY,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


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
    assert redis_client.keys("smsd:*") == []
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
