"""Inbound texts on real parts: the simulator posts each provider's own inbound format (signed as
that provider signs) to the API; STOP blocks the next send at the door, START lifts it, a
wrongly signed post is refused, a repeat is taken once, and a worker forwards each text to the
web app as a signed callback."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from dispatcher.cli import main
from dispatcher.config.settings import DeliveryReportSettings, InboundSettings, OptOutSettings
from dispatcher.core.status_callback import verify_signature
from dispatcher.errors import OptedOut
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import INBOUND, METRICS
from tests.conftest import (
    OPERATOR_KEY,
    ApiFactory,
    RunningApi,
    RunningSimulator,
    WebApp,
    WorkerFactory,
    wait_for,
)
from tests.integration.http_api.test_api import call
from tests.integration.intake.test_end_to_end import final_status

PERSON = "+14155552671"
OURS = {"sinch": "+46701234567", "twilio": "+15005550006", "vonage": "+447700900000"}
TOKEN = "inbound-test-token-3b7e"


def post_inbound(
    simulator: RunningSimulator, provider: str, url: str, text: str, sender: str = PERSON
) -> dict[str, Any]:
    """Have the simulator post ``text`` from ``sender`` to ``url`` in ``provider``'s format."""
    document = {
        "provider": provider,
        "url": url,
        "from": sender,
        "to": OURS[provider],
        "text": text,
    }
    status, answer = call("POST", f"{simulator.url}/_sim/inbound", document, key=None)
    assert status == 200, answer
    return dict(answer)


def inbound_url(api: RunningApi, provider: str) -> str:
    url = f"{api.url}/v1/inbound/{provider}"
    return url if provider == "twilio" else f"{url}?token={TOKEN}"  # Twilio signs its posts


@pytest.fixture
def api(api_factory: ApiFactory) -> RunningApi:
    return api_factory(delivery_reports=DeliveryReportSettings(secret=TOKEN))


@pytest.mark.parametrize("provider", ["sinch", "twilio", "vonage"])
def test_stop_blocks_the_next_send_and_start_lifts_it(
    provider: str,
    api: RunningApi,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    answer = post_inbound(simulator, provider, inbound_url(api, provider), "  Stop ")
    assert answer["status"] == 200
    if provider == "twilio":
        assert (answer["content_type"], answer["body"]) == ("text/xml", "<Response/>")
    with pytest.raises(OptedOut):
        dispatcher.send_sms(PERSON, "Sale today")
    entry = dispatcher.opt_outs.get(PERSON)
    assert entry is not None
    assert (entry.source, entry.keyword) == ("keyword", "STOP")

    assert post_inbound(simulator, provider, inbound_url(api, provider), "start")["status"] == 200
    assert dispatcher.get_status(dispatcher.send_sms(PERSON, "Sale today"))["state"] == "queued"
    assert redis_client.hget(METRICS, f"inbound|{provider}|stop") == "1"
    assert redis_client.hget(METRICS, f"inbound|{provider}|start") == "1"


def test_an_ordinary_text_changes_nothing_and_is_listed_masked(
    api: RunningApi, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    post_inbound(simulator, "sinch", inbound_url(api, "sinch"), "please STOP sending")
    assert not dispatcher.opt_outs.blocks(PERSON)
    status, page = call("GET", f"{api.url}/v1/inbound", key=OPERATOR_KEY)
    assert status == 200
    assert page["total"] == 1
    (item,) = page["items"]
    assert (item["from"], item["to"], item["text"], item["keyword"]) == (
        "+*******2671",
        OURS["sinch"],
        "please STOP sending",
        None,
    )
    listed = CliRunner().invoke(main, ["inbound", "list", "--json"])
    assert listed.exit_code == 0
    assert [json.loads(line)["from"] for line in listed.output.splitlines()] == ["+*******2671"]
    assert PERSON not in CliRunner().invoke(main, ["inbound", "list"]).output


def test_a_wrongly_signed_or_unproven_post_is_refused_and_kept_nowhere(
    api: RunningApi, dispatcher: Dispatcher, redis_client: redis.Redis
) -> None:
    form = urllib.parse.urlencode(
        {"MessageSid": "SM1", "From": PERSON, "To": OURS["twilio"], "Body": "STOP"}
    ).encode()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl",
    }
    status, answer = call(
        "POST", f"{api.url}/v1/inbound/twilio", raw=form, headers=headers, key=None
    )
    assert (status, answer["error"]["code"]) == (401, "bad_signature")
    vonage = {"msisdn": PERSON[1:], "to": "447700900000", "messageId": "X1", "text": "STOP"}
    for url in (f"{api.url}/v1/inbound/vonage", f"{api.url}/v1/inbound/vonage?token=wrong"):
        status, answer = call("POST", url, vonage, key=None)
        assert (status, answer["error"]["code"]) == (401, "unauthorized")
    assert not dispatcher.opt_outs.blocks(PERSON)
    assert redis_client.zcard(INBOUND) == 0


def test_providers_without_an_inbound_format_are_refused(api: RunningApi) -> None:
    for provider in ("gosms", "cecula", "yellowpush"):
        status, answer = call(
            "POST", f"{api.url}/v1/inbound/{provider}?token={TOKEN}", {"text": "x"}, key=None
        )
        assert (status, answer["error"]["code"]) == (404, "no_inbound_format"), provider


def test_a_post_made_again_is_taken_once(api: RunningApi, redis_client: redis.Redis) -> None:
    body = {"msisdn": PERSON[1:], "to": "447700900000", "messageId": "0A01", "text": "hello"}
    url = f"{api.url}/v1/inbound/vonage?token={TOKEN}"
    assert call("POST", url, body, key=None)[0] == 200
    assert call("POST", url, body, key=None)[0] == 200
    assert redis_client.zcard(INBOUND) == 1
    assert redis_client.hget(METRICS, "inbound|vonage|text") == "1"


def test_a_worker_forwards_each_text_signed_and_sends_the_stop_reply(
    api_factory: ApiFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    worker_factory: WorkerFactory,
    web_app: WebApp,
) -> None:
    """The text reaches inbound.callback_url signed with callbacks.secret (the number and text
    in full: the web app must know who wrote what); the stop reply goes to the number that just
    opted out, through the provider it wrote by, from the number it wrote to."""
    secret = "inbound-callback-secret-9d"
    api = api_factory(
        delivery_reports=DeliveryReportSettings(secret=TOKEN),
        inbound=InboundSettings(callback_url=web_app.url),
        opt_out=OptOutSettings(stop_reply="You will get no more messages. Reply START to undo."),
    )
    worker_factory({"SMSD_CALLBACKS__SECRET": secret, "SMSD_INBOUND__CALLBACK_URL": web_app.url})
    post_inbound(simulator, "twilio", inbound_url(api, "twilio"), "STOP")
    wait_for(web_app.events, timeout_s=20)
    ((body, headers),) = web_app.received
    assert verify_signature(secret, body, headers.get("X-SmsDispatch-Signature"))
    event = json.loads(body)
    assert (event["event"], event["from"], event["to"], event["text"], event["keyword"]) == (
        "inbound",
        PERSON,
        OURS["twilio"],
        "STOP",
        "stop",
    )
    reply = wait_for(lambda: simulator.requests_for(PERSON), timeout_s=20)
    assert isinstance(reply, list)
    assert reply[0]["payload"]["Body"].startswith("You will get no more messages")
    assert reply[0]["payload"]["From"] == OURS["twilio"]
    assert dispatcher.opt_outs.blocks(PERSON)


def test_stop_by_inbound_ends_a_waiting_message_opted_out(
    api: RunningApi,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    worker_factory: WorkerFactory,
) -> None:
    """Queued before the STOP came (no worker yet), claimed after: failed, opted_out, unsent."""
    waiting = dispatcher.send_sms(PERSON, "Sale today")
    post_inbound(simulator, "vonage", inbound_url(api, "vonage"), "STOP")
    worker_factory()
    status = final_status(dispatcher, waiting)
    assert (status["state"], status["final_reason"]) == ("failed", "opted_out")
    assert simulator.requests_for(PERSON) == []
