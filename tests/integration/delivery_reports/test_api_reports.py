"""Delivery reports into the API and status callbacks out of it, with a real worker, Redis, the
simulator's personalities and a web app's callback receiver on loopback."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from dispatcher.config.settings import DeliveryReportSettings
from dispatcher.core.status_callback import SIGNATURE_HEADER, verify_signature
from tests.conftest import ApiFactory, RunningSimulator, WebApp, WorkerFactory, wait_for
from tests.integration.http_api.test_api import call

REPORT_TOKEN = "test-report-token-77c1"
CALLBACK_SECRET = "test-callback-secret-19ab"
NUMBER = "+14155552671"


def report_env(provider: str, api_url: str, simulator: RunningSimulator) -> dict[str, str]:
    """Where each provider is told to post its reports: in the send (Sinch, Twilio) or in its
    panel (the simulator's report URL for the others)."""
    tokened = f"{api_url}/v1/delivery-reports/{provider}?token={REPORT_TOKEN}"
    if provider == "sinch":
        return {"SMSD_PROVIDERS__SINCH__CALLBACK_URL": tokened}
    if provider == "twilio":  # signed with the auth token: no token in the URL
        return {"SMSD_PROVIDERS__TWILIO__STATUS_CALLBACK": f"{api_url}/v1/delivery-reports/twilio"}
    simulator.state.report_urls[provider] = tokened
    return {}


@pytest.mark.parametrize("provider", ["sinch", "twilio", "vonage"])
def test_report_moves_the_message_and_the_web_app_hears_of_it(
    provider: str,
    api_factory: ApiFactory,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    web_app: WebApp,
) -> None:
    """Enqueue over HTTP → accepted → the provider's report → delivered; the web app gets one
    signed callback for each state."""
    api = api_factory(delivery_reports=DeliveryReportSettings(secret=REPORT_TOKEN))
    worker_factory(
        {
            **report_env(provider, api.url, simulator),
            "SMSD_CALLBACKS__SECRET": CALLBACK_SECRET,
            "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05",
        }
    )
    status, created = call(
        "POST",
        f"{api.url}/v1/messages",
        {"to": NUMBER, "body": "hi", "providers": [provider], "callback_url": web_app.url},
    )
    assert status == 202

    def delivered() -> dict[str, Any] | None:
        found = call("GET", f"{api.url}/v1/messages/{created['id']}")[1]
        return found if found["state"] == "delivered" else None

    message = wait_for(delivered, timeout_s=20)
    assert isinstance(message, dict)
    assert message["delivery_report"]["at_ms"] >= message["attempts"][0]["started_at_ms"]
    wait_for(lambda: len(web_app.received) >= 2)
    events = web_app.events()
    assert sorted(e["state"] for e in events) == ["accepted", "delivered"]
    assert {e["message_id"] for e in events} == {created["id"]}
    assert all(e["to"] == "+*******2671" for e in events)
    for body, headers in web_app.received:
        assert verify_signature(CALLBACK_SECRET, body, headers[SIGNATURE_HEADER])
        assert not verify_signature("another-secret", body, headers[SIGNATURE_HEADER])


def test_callback_is_retried_until_the_web_app_takes_it(
    api_factory: ApiFactory,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    web_app: WebApp,
) -> None:
    """The web app answers 500 twice: the accepted callback comes a third time, once taken."""
    web_app.failures = 2
    api = api_factory()
    worker_factory({"SMSD_CALLBACKS__BASE_S": "0.1", "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05"})
    _, created = call(
        "POST", f"{api.url}/v1/messages", {"to": NUMBER, "body": "x", "callback_url": web_app.url}
    )
    wait_for(lambda: web_app.received, timeout_s=20)
    assert web_app.calls == 3
    [event] = web_app.events()
    assert (event["state"], event["message_id"]) == ("accepted", created["id"])
    assert event["event_id"] == f"{created['id']}|accepted"
    assert SIGNATURE_HEADER not in web_app.received[0][1]  # no secret configured: unsigned


def test_callback_is_given_up_after_its_attempts(
    api_factory: ApiFactory, worker_factory: WorkerFactory, web_app: WebApp
) -> None:
    web_app.failures = 100
    api = api_factory()
    worker_factory(
        {
            "SMSD_CALLBACKS__BASE_S": "0.05",
            "SMSD_CALLBACKS__MAX_ATTEMPTS": "3",
            "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05",
        }
    )
    _, created = call(
        "POST", f"{api.url}/v1/messages", {"to": NUMBER, "body": "x", "callback_url": web_app.url}
    )
    url = f"{api.url}/v1/messages/{created['id']}"
    wait_for(lambda: call("GET", url)[1]["callback_failed"], timeout_s=20)
    assert web_app.calls == 3
    assert call("GET", url)[1]["state"] == "accepted"


def post_report(
    url: str, body: bytes, *, content_type: str = "application/json", **headers: str
) -> tuple[int, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", content_type)
    for name, value in headers.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_reports_are_authenticated_and_idempotent(
    api_factory: ApiFactory, worker_factory: WorkerFactory, simulator: RunningSimulator
) -> None:
    """Wrong token, unsigned or wrongly signed callbacks are refused; a repeated report changes
    nothing; a report for no message we know is taken and ignored."""
    api = api_factory(delivery_reports=DeliveryReportSettings(secret=REPORT_TOKEN))
    worker_factory({"SMSD_PROVIDERS__SINCH__CALLBACK_URL": "http://127.0.0.1:9/unused"})
    _, created = call("POST", f"{api.url}/v1/messages", {"to": NUMBER, "body": "x"})
    url = f"{api.url}/v1/messages/{created['id']}"
    wait_for(lambda: call("GET", url)[1]["state"] == "accepted")
    batch_id = call("GET", url)[1]["provider_message_id"]
    report = json.dumps(
        {
            "type": "recipient_delivery_report_sms",
            "batch_id": batch_id,
            "recipient": NUMBER,
            "code": 0,
            "status": "Delivered",
            "at": "2026-11-25T16:00:00.000Z",
            "client_reference": created["id"],  # Sinch echoes the one we sent
        }
    ).encode()
    base = f"{api.url}/v1/delivery-reports"
    assert post_report(f"{base}/sinch", report)[0] == 401
    assert post_report(f"{base}/sinch?token=wrong", report)[0] == 401
    assert post_report(f"{base}/nosuch?token={REPORT_TOKEN}", report)[0] == 404
    status, error = post_report(f"{base}/sinch?token={REPORT_TOKEN}", b"{}")
    assert (status, error["error"]["code"]) == (422, "not_a_report")
    twilio = b"MessageSid=SM1&MessageStatus=delivered"
    status, error = post_report(
        f"{base}/twilio", twilio, content_type="application/x-www-form-urlencoded"
    )
    assert (status, error["error"]["code"]) == (401, "bad_signature")
    status, error = post_report(
        f"{base}/twilio",
        twilio,
        content_type="application/x-www-form-urlencoded",
        **{"X-Twilio-Signature": "bm90IGl0"},
    )
    assert status == 401
    assert call("GET", url)[1]["state"] == "accepted"

    first = post_report(f"{base}/sinch?token={REPORT_TOKEN}", report)
    again = post_report(f"{base}/sinch?token={REPORT_TOKEN}", report)
    assert first == (200, {"reports": 1, "outcomes": {"applied": 1}})
    assert again == (200, {"reports": 1, "outcomes": {"same": 1}})
    assert call("GET", url)[1]["state"] == "delivered"
    stranger = report.replace(batch_id.encode(), b"01UNKNOWNBATCH").replace(
        created["id"].encode(), b"01UNKNOWNMESSAGE"
    )
    assert post_report(f"{base}/sinch?token={REPORT_TOKEN}", stranger) == (
        200,
        {"reports": 1, "outcomes": {"unknown": 1}},
    )


def test_no_report_in_time_ends_delivery_unknown_and_a_late_one_still_applies(
    api_factory: ApiFactory,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    web_app: WebApp,
) -> None:
    """Sinch's reports wait at most 2 s here (its own delivery_report_timeout_s): accepted, no
    report within 2 s → delivery_unknown, with a callback and a count; the report that comes at
    5 s still moves it to delivered, with its callback."""
    api = api_factory(delivery_reports=DeliveryReportSettings(secret=REPORT_TOKEN))
    worker_factory(
        {
            **report_env("sinch", api.url, simulator),
            "SMSD_PROVIDERS__SINCH__DELIVERY_REPORT_TIMEOUT_S": "2",
            "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05",
        }
    )
    simulator.state.report_delay_ms = 5_000
    status, created = call(
        "POST",
        f"{api.url}/v1/messages",
        {"to": NUMBER, "body": "hi", "providers": ["sinch"], "callback_url": web_app.url},
    )
    assert status == 202

    def in_state(state: str) -> bool:
        return bool(call("GET", f"{api.url}/v1/messages/{created['id']}")[1]["state"] == state)

    wait_for(lambda: in_state("delivery_unknown"), timeout_s=20)
    wait_for(lambda: in_state("delivered"), timeout_s=20)
    wait_for(lambda: len(web_app.received) >= 3)
    assert [e["state"] for e in web_app.events()] == ["accepted", "delivery_unknown", "delivered"]
    with urllib.request.urlopen(f"{api.url}/metrics", timeout=10) as response:
        metrics = response.read().decode()
    assert 'smsdispatch_messages_total{state="delivery_unknown"} 1.0' in metrics
