"""Bodies are dropped once a message is final (after messages.body_retention_s), by a real
worker's mover; a dead letter keeps its body for replay unless dead_letters.keep_body is off."""

from __future__ import annotations

import time

import redis

from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.messages import MessageStore
from dispatcher.store.redis_keys import BODY_DROPS, message_key
from providers.simulator import ScriptedAnswer
from tests.conftest import RunningSimulator, WorkerFactory, wait_for


def test_a_delivered_message_loses_its_body_a_dead_letter_keeps_it(
    dispatcher: Dispatcher,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    worker_factory()
    simulator.state.script("+14155550100", [ScriptedAnswer(400, code="syntax_invalid_json")])
    dead = dispatcher.send_sms("+14155550100", "kept for replay")
    sent = dispatcher.send_sms("+14155552671", "secret text")
    wait_for(lambda: dispatcher.get_status(dead)["state"] == "failed")
    wait_for(lambda: dispatcher.get_status(sent)["state"] == "accepted")
    assert redis_client.hexists(message_key(sent), "body")  # accepted is not final yet
    applied = dispatcher.store.apply_report(  # as the provider's delivery report would
        sent,
        provider="sinch",
        state="delivered",
        provider_status="Delivered",
        reason="",
        now_ms=int(time.time() * 1000),
    )
    assert applied == "applied"
    wait_for(lambda: not redis_client.hexists(message_key(sent), "body"))
    assert redis_client.hexists(message_key(sent), "body_dropped_at_ms")
    assert dispatcher.get_status(sent)["state"] == "delivered"  # the record itself stays
    assert redis_client.hget(message_key(dead), "body") == "kept for replay"


def test_without_keep_body_a_dead_letter_loses_its_body_too(
    dispatcher: Dispatcher,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    worker_factory({"SMSD_DEAD_LETTERS__KEEP_BODY": "false"})
    simulator.state.script("+14155550100", [ScriptedAnswer(400, code="syntax_invalid_json")])
    dead = dispatcher.send_sms("+14155550100", "gone")
    wait_for(lambda: dispatcher.get_status(dead)["state"] == "failed")
    wait_for(lambda: not redis_client.hexists(message_key(dead), "body"))


def test_a_retention_keeps_the_body_until_it_is_over(
    dispatcher: Dispatcher, redis_client: redis.Redis
) -> None:
    store = MessageStore(redis_client, retention_s=600, body_retention_s=3_600)
    message_id = dispatcher.send_sms("+14155552671", "to cancel")
    now = int(time.time() * 1000)
    assert store.cancel_many([message_id], now_ms=now) == [("canceled", "queued")]
    assert redis_client.zscore(BODY_DROPS, message_id) == now + 3_600_000
    assert redis_client.hget(message_key(message_id), "body") == "to cancel"
