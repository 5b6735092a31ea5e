"""The opt-out list over HTTP (operator keys), and the 422 ``opted_out`` of a send to it."""

from __future__ import annotations

from tests.conftest import OPERATOR_KEY, SENDER_KEY, ApiFactory
from tests.integration.http_api.test_api import call

NUMBER = "+14155552671"
ENCODED = "%2B14155552671"


def test_put_get_send_delete(api_factory: ApiFactory) -> None:
    api = api_factory()
    url = f"{api.url}/v1/opt-outs/{ENCODED}"
    status, answer = call("PUT", url, key=OPERATOR_KEY)
    assert (status, answer["added"], answer["opt_out"]["number"]) == (201, True, NUMBER)
    assert answer["opt_out"]["source"] == "api:operator"
    status, answer = call("PUT", url, key=OPERATOR_KEY)
    assert (status, answer["added"]) == (200, False)
    status, answer = call("GET", url, key=OPERATOR_KEY)
    assert (status, answer["number"], answer["sender"]) == (200, NUMBER, None)

    status, answer = call(
        "POST", f"{api.url}/v1/messages", {"to": NUMBER, "body": "Sale"}, key=SENDER_KEY
    )
    assert (status, answer["error"]["code"]) == (422, "opted_out")
    assert NUMBER not in answer["error"]["message"]
    batch = {"messages": [{"to": NUMBER, "body": "a"}, {"to": "+14155552672", "body": "b"}]}
    status, answer = call("POST", f"{api.url}/v1/messages:batch", batch, key=SENDER_KEY)
    assert (status, answer["accepted"], answer["refused"]) == (200, 1, 1)
    assert answer["results"][0]["error"]["code"] == "opted_out"

    status, answer = call("DELETE", url, key=OPERATOR_KEY)
    assert (status, answer) == (200, {"removed": True})
    assert call("DELETE", url, key=OPERATOR_KEY)[0] == 404
    assert call("GET", url, key=OPERATOR_KEY)[0] == 404
    status, _ = call(
        "POST", f"{api.url}/v1/messages", {"to": NUMBER, "body": "Sale"}, key=SENDER_KEY
    )
    assert status == 202


def test_the_list_pages_through_every_entry(api_factory: ApiFactory) -> None:
    api = api_factory()
    numbers = {f"+1415555{2600 + i}" for i in range(30)}
    for number in numbers:
        url = f"{api.url}/v1/opt-outs/{number.replace('+', '%2B')}"
        assert call("PUT", url, key=OPERATOR_KEY)[0] == 201
    seen: set[str] = set()
    cursor = 0
    for _ in range(100):
        status, page = call(
            "GET", f"{api.url}/v1/opt-outs?count=7&cursor={cursor}", key=OPERATOR_KEY
        )
        assert status == 200
        assert page["total"] == 30
        seen |= {entry["number"] for entry in page["opt_outs"]}
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == numbers


def test_bad_input_names_its_field(api_factory: ApiFactory) -> None:
    api = api_factory()
    status, answer = call("PUT", f"{api.url}/v1/opt-outs/12345", key=OPERATOR_KEY)
    assert (status, list(answer["error"]["fields"])) == (422, ["number"])
    status, answer = call("PUT", f"{api.url}/v1/opt-outs/{ENCODED}?sender=Acme", key=OPERATOR_KEY)
    assert (status, list(answer["error"]["fields"])) == (422, ["sender"])  # global scope
    status, answer = call("GET", f"{api.url}/v1/opt-outs?count=0", key=OPERATOR_KEY)
    assert (status, list(answer["error"]["fields"])) == (422, ["count"])
    assert call("PUT", f"{api.url}/v1/opt-outs/{ENCODED}", key=SENDER_KEY)[0] == 403
