"""Smart encoding end to end: a body typed with curly quotes and a dash, sent through the HTTP
API, reaches the provider as GSM-7 in one segment; with the setting off, as written in two."""

from __future__ import annotations

import pytest
import redis

from dispatcher.store.redis_keys import METRICS
from tests.conftest import ApiFactory, RunningSimulator, WorkerFactory
from tests.integration.http_api.test_api import call, wait_for_state

RIGHT_QUOTE, EM_DASH = "\u2019", "\u2014"
TYPED = (
    f"Hi Sam, your order{RIGHT_QUOTE}s on its way {EM_DASH} track it at example.com/t/8F3K2 or "
    "call 0800 123 4567 at any time."
)
SENT = TYPED.replace(RIGHT_QUOTE, "'").replace(EM_DASH, "-")


@pytest.fixture(params=[True, False], ids=["smart", "as-written"])
def smart(
    request: pytest.FixtureRequest, stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> bool:
    """messages.smart_encoding for the API (set before its settings are read)."""
    monkeypatch.setenv("SMSD_MESSAGES__SMART_ENCODING", str(request.param).lower())
    return bool(request.param)


def test_typographic_characters_reach_the_provider_as_gsm7(
    smart: bool,
    api_factory: ApiFactory,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    worker_factory()
    api = api_factory()
    to = "+14155550142"
    status, receipt = call("POST", f"{api.url}/v1/messages", {"to": to, "body": TYPED})
    assert status == 202
    assert (receipt["smart_encoded"], receipt["segments"]) == (smart, 1 if smart else 2)
    assert receipt["encoding"] == ("GSM-7" if smart else "UCS-2")
    wait_for_state(api.url, receipt["id"], "accepted")
    (request,) = simulator.requests_for(to)
    payload = request["payload"]
    assert isinstance(payload, dict)
    assert payload["body"] == (SENT if smart else TYPED)
    _, status_view = call("GET", f"{api.url}/v1/messages/{receipt['id']}")
    assert status_view["smart_encoded"] is smart
    assert redis_client.hget(METRICS, "smart_encoded") == ("1" if smart else None)
