"""The simulator answers like Sinch and is scripted through its control API."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from tests.conftest import SINCH_PLAN, SINCH_TOKEN, RunningSimulator


def call(
    url: str,
    body: object = None,
    *,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, bytes]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method)
    for name, value in (headers or {"Content-Type": "application/json"}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def sinch(
    sim: RunningSimulator,
    payload: Any,
    *,
    token: str = SINCH_TOKEN,
    content_type: str = "application/json",
    raw: bytes | None = None,
) -> tuple[int, bytes]:
    return call(
        f"{sim.url}/xms/v1/{SINCH_PLAN}/batches",
        payload,
        raw=raw,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )


def test_sinch_checks_in_documented_order(simulator: RunningSimulator) -> None:
    """401 bad token, 415 wrong type, 400 bad JSON / bad MSISDN / constraint, then 201."""
    ok = {"to": ["+14155552671"], "body": "hi"}
    assert sinch(simulator, ok, token="nope")[0] == 401
    assert sinch(simulator, ok, content_type="text/plain")[0] == 415
    status, body = sinch(simulator, None, raw=b"{")
    assert (status, json.loads(body)["code"]) == (400, "syntax_invalid_json")
    status, body = sinch(simulator, {"to": ["14155552671"], "body": "hi"})
    assert (status, json.loads(body)["code"]) == (400, "syntax_invalid_parameter_format")
    status, body = sinch(simulator, {"to": ["+14155552671"], "body": "x" * 2001})
    assert (status, json.loads(body)["code"]) == (400, "syntax_constraint_violation")
    status, body = sinch(simulator, ok)
    assert status == 201
    assert len(json.loads(body)["id"]) == 26
    assert call(f"{simulator.url}/xms/v1/{SINCH_PLAN}/batches", method="PUT")[0] == 405


def test_sinch_list_batches_by_client_reference(simulator: RunningSimulator) -> None:
    """List Batches answers from the batches taken, by client_reference and start_date (default
    the last 24 h); it needs the token; the control API makes it fail while sends go on."""
    url = f"{simulator.url}/xms/v1/{SINCH_PLAN}/batches"
    auth = {"Authorization": f"Bearer {SINCH_TOKEN}"}
    sent = sinch(simulator, {"to": ["+14155552671"], "body": "hi", "client_reference": "ref-1"})
    batch_id = json.loads(sent[1])["id"]

    def listed(query: str) -> tuple[int, Any]:
        status, body = call(f"{url}?{query}", method="GET", headers=auth)
        return status, json.loads(body) if status == 200 else body

    status, found = listed("client_reference=ref-1")
    assert status == 200
    assert [b["id"] for b in found["batches"]] == [batch_id]
    assert found["batches"][0]["client_reference"] == "ref-1"
    assert listed("client_reference=ref-2")[1]["batches"] == []
    assert listed("client_reference=ref-1&start_date=2999-01-01T00:00:00.000Z")[1]["count"] == 0
    assert listed("client_reference=ref-1&start_date=2020-01-01T00:00:00.000Z")[1]["count"] == 1
    assert listed("client_reference=ref-1&start_date=yesterday")[0] == 400
    assert call(f"{url}?client_reference=ref-1", method="GET")[0] == 401
    fail = call(f"{simulator.url}/_sim/lookup-outage", {"status": 503, "provider": "sinch"})
    assert fail[0] == 200
    assert listed("client_reference=ref-1")[0] == 503
    assert sinch(simulator, {"to": ["+14155552671"], "body": "still sent"})[0] == 201
    call(f"{simulator.url}/_sim/lookup-outage", {"status": None, "provider": "sinch"})
    assert listed("client_reference=ref-1")[0] == 200
    assert simulator.state.lookups["sinch"] == 7  # each search that got past the token


def test_script_through_the_control_api(simulator: RunningSimulator) -> None:
    """Scripted answers come in order, then the normal success; 404 has no body as documented."""
    script = {"to": "+14155552671", "answers": [{"status": 503}, {"status": 404}]}
    assert call(f"{simulator.url}/_sim/scripts", script)[0] == 200
    ok = {"to": ["+14155552671"], "body": "hi", "client_reference": "ref-1"}
    assert sinch(simulator, ok)[0] == 503
    assert sinch(simulator, ok) == (404, b"")
    assert sinch(simulator, ok)[0] == 201
    _, body = call(f"{simulator.url}/_sim/requests?client_reference=ref-1", method="GET")
    assert [r["status"] for r in json.loads(body)["requests"]] == [503, 404, 201]
    stats = json.loads(call(f"{simulator.url}/_sim/stats", method="GET")[1])
    assert stats["duplicated_references"] == {"ref-1": 3}


def test_bad_script_is_refused(simulator: RunningSimulator) -> None:
    """A script with an unknown field is a 400 naming it."""
    status, body = call(f"{simulator.url}/_sim/scripts", {"to": "+1", "answers": [{"stauts": 503}]})
    assert status == 400
    assert b"stauts" in body


def test_outage_of_one_personality_through_the_control_api(simulator: RunningSimulator) -> None:
    """An outage for ``sinch`` fails Sinch's sends only; ending it restores them."""
    ok = {"to": ["+14155552671"], "body": "hi"}
    outage = {"status": 503, "provider": "sinch"}
    assert call(f"{simulator.url}/_sim/outage", outage)[0] == 200
    assert sinch(simulator, ok)[0] == 503
    assert simulator.state.outage_status("twilio") is None
    assert call(f"{simulator.url}/_sim/outage", {"status": None, "provider": "sinch"})[0] == 200
    assert sinch(simulator, ok)[0] == 201
    assert call(f"{simulator.url}/_sim/outage", {"status": 503, "provider": 7})[0] == 400
