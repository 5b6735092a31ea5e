"""Scheduled sends and cancel on real parts: a scheduled message waits in the Redis delay queue
and reaches the simulator no earlier than its time; a canceled one never does; cancels racing
claims leave each message sent or canceled, never both."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
import redis

from dispatcher.config.settings import Settings
from dispatcher.errors import InvalidMessage, MessageNotFound, NotCancelable
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import DELAY_QUEUE, METRICS
from tests.conftest import (
    OPERATOR_KEY,
    SENDER_KEY,
    ApiFactory,
    RunningSimulator,
    WebApp,
    WorkerFactory,
    wait_for,
)
from tests.integration.http_api.test_api import call

NUMBER = "+14155552671"
# The mover looks for due messages every scheduler.poll_interval_s (0.25 s by default).
TICK_S = 0.25


def sent_at_ms(simulator: RunningSimulator, message_id: str) -> list[int]:
    return [r.received_at_ms for r in simulator.state.requests if r.client_reference == message_id]


def test_a_scheduled_message_waits_in_redis_and_goes_at_its_time(
    dispatcher: Dispatcher,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    worker_factory()
    send_at = datetime.now(UTC) + timedelta(seconds=3)
    at_ms = int(send_at.timestamp() * 1000)
    message_id = dispatcher.send_sms(NUMBER, "Your table is ready", send_at=send_at, validity=600)
    status = dispatcher.get_status(message_id)
    assert (status["state"], status["send_at_ms"]) == ("scheduled", at_ms)
    assert status["valid_until_ms"] == at_ms + 600_000  # validity counts from send_at
    assert redis_client.zscore(DELAY_QUEUE, message_id) == at_ms
    time.sleep(1.5)
    assert sent_at_ms(simulator, message_id) == []
    arrived = wait_for(lambda: sent_at_ms(simulator, message_id), timeout_s=15)
    assert isinstance(arrived, list)
    (received,) = arrived
    assert at_ms <= received <= at_ms + int((TICK_S + 1) * 1000)
    wait_for(lambda: dispatcher.get_status(message_id)["state"] == "accepted")


def test_a_message_canceled_before_its_time_is_never_sent(
    dispatcher: Dispatcher,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    web_app: WebApp,
    redis_client: redis.Redis,
) -> None:
    worker_factory()
    message_id = dispatcher.send_sms(
        NUMBER, "Flash sale", send_at=int(time.time() * 1000) + 2_000, callback_url=web_app.url
    )
    status = dispatcher.cancel(message_id)
    assert (status["state"], status["final_reason"]) == ("canceled", "canceled")
    assert redis_client.zscore(DELAY_QUEUE, message_id) is None
    time.sleep(3.5)
    assert sent_at_ms(simulator, message_id) == []
    assert dispatcher.get_status(message_id)["state"] == "canceled"
    wait_for(web_app.events)
    assert [e["state"] for e in web_app.events()] == ["canceled"]
    assert redis_client.hget(METRICS, "messages|canceled") == "1"
    with pytest.raises(NotCancelable) as again:
        dispatcher.cancel(message_id)
    assert again.value.state == "canceled"
    with pytest.raises(MessageNotFound):
        dispatcher.cancel("01M8NOSUCHMESSAGE000000000")


def test_a_sent_message_is_not_cancelable_and_is_left_alone(
    dispatcher: Dispatcher, worker_factory: WorkerFactory, simulator: RunningSimulator
) -> None:
    worker_factory()
    message_id = dispatcher.send_sms(NUMBER, "hello")
    wait_for(lambda: dispatcher.get_status(message_id)["state"] == "accepted")
    with pytest.raises(NotCancelable) as refused:
        dispatcher.cancel(message_id)
    assert refused.value.state == "accepted"
    assert dispatcher.get_status(message_id)["state"] == "accepted"


def test_cancels_racing_claims_leave_each_message_sent_or_canceled_never_both(
    dispatcher: Dispatcher, worker_factory: WorkerFactory, simulator: RunningSimulator
) -> None:
    """100 messages due at one moment, each canceled by its own thread at a moment spread
    around it (before the mover publishes it, between that and its claim, after): each ends
    canceled and unsent, or accepted and sent once, and its cancel said which."""
    worker_factory({"SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05"})
    due_ms = int(time.time() * 1000) + 2_000
    ids = [dispatcher.send_sms(f"+1415555{2600 + i}", "race", send_at=due_ms) for i in range(100)]
    outcomes: dict[str, str] = {}

    def cancel(place: int, message_id: str) -> None:
        time.sleep(max(0.0, (due_ms + (place - 50) * 4) / 1000 - time.time()))
        try:
            dispatcher.cancel(message_id)
            outcomes[message_id] = "canceled"
        except NotCancelable as exc:
            outcomes[message_id] = exc.state

    threads = [threading.Thread(target=cancel, args=pair) for pair in enumerate(ids)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    def final() -> list[str] | None:
        states = [dispatcher.get_status(i)["state"] for i in ids]
        return None if {"scheduled", "queued", "sending"} & set(states) else states

    states = wait_for(final, timeout_s=30)
    assert isinstance(states, list)
    time.sleep(0.5)  # any send still on its way would have arrived
    for message_id, state in zip(ids, states, strict=True):
        sends = sent_at_ms(simulator, message_id)
        if state == "canceled":
            assert outcomes[message_id] == "canceled"
            assert sends == [], message_id
        else:
            assert state == "accepted"
            assert outcomes[message_id] != "canceled"
            assert len(sends) == 1, message_id
    assert set(states) <= {"canceled", "accepted"}


def test_send_at_is_checked_at_the_door(dispatcher: Dispatcher, settings: Settings) -> None:
    now = datetime.now(UTC)
    cases = {
        "naive": datetime(2030, 1, 1, 9, 0),
        "past": now - timedelta(hours=1),
        "too far": now + timedelta(seconds=settings.messages.max_schedule_s + 60),
        "not a time": "tomorrow",
        "seconds": int(now.timestamp()),  # epoch seconds read as ms: 1970
    }
    for case, value in cases.items():
        with pytest.raises(InvalidMessage) as refused:
            dispatcher.send_sms(NUMBER, "x", send_at=value)
        assert set(refused.value.fields) == {"send_at"}, case
    paris = timezone(timedelta(hours=1))
    later = dispatcher.send_sms(NUMBER, "x", send_at=(now + timedelta(days=30)).astimezone(paris))
    assert dispatcher.get_status(later)["state"] == "scheduled"
    # A send_at a moment ago (clocks differ) sends now.
    now_id = dispatcher.send_sms(NUMBER, "x", send_at=now - timedelta(seconds=5))
    assert dispatcher.get_status(now_id)["state"] == "queued"


def test_http_schedules_cancels_and_cancels_a_campaign(
    api_factory: ApiFactory, dispatcher: Dispatcher
) -> None:
    api = api_factory()
    send_at = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    status, receipt = call(
        "POST",
        f"{api.url}/v1/messages",
        {"to": NUMBER, "body": "later", "send_at": send_at},
        key=SENDER_KEY,
    )
    assert (status, receipt["state"]) == (202, "scheduled")
    status, answer = call("DELETE", f"{api.url}/v1/messages/{receipt['id']}", key=SENDER_KEY)
    assert (status, answer["state"]) == (200, "canceled")
    status, answer = call("DELETE", f"{api.url}/v1/messages/{receipt['id']}", key=SENDER_KEY)
    assert (status, answer["error"]["code"], answer["error"]["state"]) == (
        409,
        "not_cancelable",
        "canceled",
    )
    status, answer = call(
        "POST",
        f"{api.url}/v1/messages",
        {"to": NUMBER, "body": "x", "send_at": "2030-01-01T09:00:00"},
        key=SENDER_KEY,
    )
    assert (status, list(answer["error"]["fields"])) == (422, ["send_at"])

    campaign = [
        {"to": f"+1415555{2600 + i}", "body": "Xmas", "send_at": send_at, "campaign": "xmas-26"}
        for i in range(5)
    ]
    status, batch = call(
        "POST", f"{api.url}/v1/messages:batch", {"messages": campaign}, key=SENDER_KEY
    )
    assert (status, batch["accepted"]) == (200, 5)
    dispatcher.cancel(batch["results"][0]["id"])  # one canceled already: not counted again
    status, answer = call("DELETE", f"{api.url}/v1/campaigns/xmas-26", key=OPERATOR_KEY)
    assert (status, answer) == (
        200,
        {"campaign": "xmas-26", "canceled": 4, "not_cancelable": {"canceled": 1}},
    )
    assert all(dispatcher.get_status(r["id"])["state"] == "canceled" for r in batch["results"])
    status, answer = call("DELETE", f"{api.url}/v1/campaigns/no%20such", key=SENDER_KEY)
    assert (status, list(answer["error"]["fields"])) == (422, ["campaign"])
