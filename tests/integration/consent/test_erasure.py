"""Erasure on real parts: after a number's messages were sent, dead-lettered, reported, queued
and scheduled, its inbound texts recorded and its opt-out taken, erasing it leaves no trace of
the number in any Redis key, and it stays opted out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from dispatcher.cli import main
from dispatcher.config.settings import DeliveryReportSettings
from dispatcher.errors import OptedOut
from dispatcher.intake.enqueue import Dispatcher
from providers.simulator import ScriptedAnswer
from tests.conftest import OPERATOR_KEY, ApiFactory, RunningSimulator, WorkerFactory, wait_for
from tests.integration.consent.test_inbound import TOKEN, post_inbound
from tests.integration.http_api.test_api import call

NUMBER = "+14155552671"
OTHER = "+14155552672"


def values_of(client: redis.Redis, key: str) -> list[Any]:
    kind = client.type(key)
    if kind == "string":
        return [key, client.get(key)]
    if kind == "hash":
        return [key, *client.hgetall(key).items()]
    if kind == "list":
        return [key, *client.lrange(key, 0, -1)]
    if kind == "set":
        return [key, *client.smembers(key)]
    if kind == "zset":
        return [key, *client.zrange(key, 0, -1)]
    return [key]


def traces(client: redis.Redis, digits: str) -> list[str]:
    """Every key whose name or value holds ``digits``."""
    return [key for key in client.scan_iter(count=1000) if digits in repr(values_of(client, key))]


def test_erasure_leaves_no_trace_and_the_opt_out_holds(
    api_factory: ApiFactory,
    dispatcher: Dispatcher,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    api = api_factory(delivery_reports=DeliveryReportSettings(secret=TOKEN))
    worker_factory()
    simulator.state.script(NUMBER, [ScriptedAnswer(400, code="syntax_invalid_parameter_format")])
    dead = dispatcher.send_sms(NUMBER, "first", idempotency_key="erase-1")
    sent = dispatcher.send_sms(NUMBER, "second", callback_url="https://example.com/cb")
    later = dispatcher.send_sms(
        NUMBER, "third", send_at=datetime.now(UTC) + timedelta(hours=1), campaign="c1"
    )
    kept = dispatcher.send_sms(OTHER, "not this one")
    wait_for(lambda: dispatcher.get_status(dead)["state"] == "failed")
    wait_for(lambda: dispatcher.get_status(sent)["state"] in ("accepted", "delivered"))
    post_inbound(simulator, "vonage", f"{api.url}/v1/inbound/vonage?token={TOKEN}", "hi there")
    post_inbound(simulator, "twilio", f"{api.url}/v1/inbound/twilio", "STOP")
    assert dispatcher.opt_outs.blocks(NUMBER)
    digits = NUMBER[1:]
    assert traces(redis_client, digits)  # the number is in Redis before

    status, erased = call("POST", f"{api.url}/v1/erasures", {"number": NUMBER}, key=OPERATOR_KEY)
    assert status == 200
    assert erased == {
        "messages": 3,
        "dead_letters": 1,
        "idempotency_keys": 1,
        "inbound": 2,
        "opt_outs_kept": 1,
    }
    assert traces(redis_client, digits) == []
    assert traces(redis_client, "4155552671") == []
    # The opt-out still holds, and the other number's message is untouched.
    with pytest.raises(OptedOut):
        dispatcher.send_sms(NUMBER, "again")
    assert dispatcher.get_status(kept)["state"] in ("queued", "sending", "accepted", "delivered")
    assert later not in repr([values_of(redis_client, k) for k in redis_client.scan_iter()])
    # Erasing again finds nothing more.
    again = CliRunner().invoke(main, ["erase", NUMBER, "--yes"])
    assert again.exit_code == 0
    assert "messages 0" in again.output


def test_erasure_needs_a_number_and_confirmation(api_factory: ApiFactory) -> None:
    api = api_factory()
    status, answer = call("POST", f"{api.url}/v1/erasures", {"number": "12"}, key=OPERATOR_KEY)
    assert (status, list(answer["error"]["fields"])) == (422, ["number"])
    assert CliRunner().invoke(main, ["erase", NUMBER]).exit_code == 2
