"""The worker's send pipeline in-process: job threads hand sends to the loop, a finisher records
what they ended with. Real Redis, the real loop bridge and the simulator on loopback."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator

import pytest
import redis

from dispatcher.config.provider_adapters import build_providers
from dispatcher.config.settings import Settings
from dispatcher.core.names import SEND_READY_TASK
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.queueing.job_payloads import job_template
from dispatcher.sending.conclusion import Concluded
from dispatcher.sending.pipeline import SendPipeline
from dispatcher.sending.send_bridge import SendBridge
from dispatcher.sending.send_path import SendPath, build_send_path
from dispatcher.store.redis_keys import ready_list_key
from tests.conftest import RunningSimulator


@dataclasses.dataclass
class _CountingPath:
    """The real send path, and how many sends each record call of its concluder held."""

    path: SendPath
    recorded: list[int]


@pytest.fixture
def bridge() -> Iterator[SendBridge]:
    running = SendBridge(connections_per_provider=8)
    yield running
    running.close()


@pytest.fixture
def courier(
    settings: Settings,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,  # answering at once unless a test says otherwise
    monkeypatch: pytest.MonkeyPatch,
) -> _CountingPath:
    path = build_send_path(
        settings,
        client=dispatcher.store_client,
        store=dispatcher.store,
        providers=build_providers(settings),
    )
    counting = _CountingPath(path, [])
    record = path.concluder.record

    def counted(concluded: list[Concluded]) -> None:
        counting.recorded.append(len(concluded))
        record(concluded)

    monkeypatch.setattr(path.concluder, "record", counted)
    return counting


def _wait_accepted(dispatcher: Dispatcher, message_ids: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while any(dispatcher.get_status(m)["state"] != "accepted" for m in message_ids):
        assert time.monotonic() < deadline, "not all sends were recorded"
        time.sleep(0.02)


@pytest.mark.parametrize("linger_ms", [400, 0])
def test_sends_ending_one_by_one_are_recorded_together_within_the_linger(
    dispatcher: Dispatcher,
    bridge: SendBridge,
    courier: _CountingPath,
    simulator: RunningSimulator,
    linger_ms: int,
) -> None:
    """Eight sends of 100 ms handed over 20 ms apart end about 20 ms apart, each while others
    are under way: with a 400 ms linger the finisher records them in one or two round trips;
    without one, each as it ends."""
    simulator.state.latency_ms = 100
    pipeline = SendPipeline(
        courier.path, bridge, max_in_flight=16, finishers=1, finish_linger_ms=linger_ms
    )
    message_ids = [dispatcher.send_sms("+1 415 555 2671", f"hi {i}") for i in range(8)]
    try:
        for message_id in message_ids:
            assert pipeline.dispatch(message_id) == "sending"
            time.sleep(0.02)
        _wait_accepted(dispatcher, message_ids, 10)
    finally:
        assert pipeline.drain(10)
    assert sum(courier.recorded) == 8
    if linger_ms:
        assert len(courier.recorded) <= 2, courier.recorded
    else:
        assert len(courier.recorded) >= 4, courier.recorded


def test_a_full_batch_is_recorded_without_lingering(
    dispatcher: Dispatcher, courier: _CountingPath, simulator: RunningSimulator
) -> None:
    """200 sends of 500 ms, all under way before the first ends (a connection each), end
    together: the finisher lingers once for its first batch (the sends are still ending),
    records the next two full batches of 64 at once, and the 8 left, with none other under
    way, at once too: one linger of 1 s, not four."""
    simulator.state.latency_ms = 500
    wide_bridge = SendBridge(connections_per_provider=200)
    pipeline = SendPipeline(
        courier.path, wide_bridge, max_in_flight=256, finishers=1, finish_linger_ms=1000
    )
    results = dispatcher.send_bulk([{"to": "+1 415 555 2671", "body": "hi"}] * 200)
    message_ids = [r["id"] for r in results]
    started = time.monotonic()
    try:
        pipeline.dispatch_many(message_ids)
        _wait_accepted(dispatcher, message_ids, 20)
    finally:
        assert pipeline.drain(10)
        wide_bridge.close()
    took = time.monotonic() - started
    assert courier.recorded == [64, 64, 64, 8]
    assert 1.5 <= took < 2.5, took


def test_a_lone_send_is_recorded_without_lingering(
    dispatcher: Dispatcher, bridge: SendBridge, courier: _CountingPath
) -> None:
    """A send that ends with none other under way (a lone OTP in a quiet spell) is recorded at
    once, not after the finisher's 1 s linger."""
    pipeline = SendPipeline(
        courier.path, bridge, max_in_flight=16, finishers=1, finish_linger_ms=1000
    )
    message_id = dispatcher.send_sms("+1 415 555 2671", "your code is 123456")
    started = time.monotonic()
    try:
        assert pipeline.dispatch(message_id) == "sending"
        _wait_accepted(dispatcher, [message_id], 10)
    finally:
        assert pipeline.drain(10)
    assert time.monotonic() - started < 0.9
    assert courier.recorded == [1]


def test_a_ready_lists_job_takes_what_the_pipeline_has_room_for(
    dispatcher: Dispatcher,
    bridge: SendBridge,
    courier: _CountingPath,
    redis_client: redis.Redis,
) -> None:
    """Messages sent one by one wait on their queue's ready list with one job for the list; the
    job takes as many as the pipeline has room for (16 of 40), claims them, queues the list's
    next job, and sends them; the next two jobs take the rest, and the last queues none."""
    pipeline = SendPipeline(
        courier.path,
        bridge,
        max_in_flight=16,
        finishers=1,
        ready_template=job_template(dispatcher.celery_app, SEND_READY_TASK),
        ready_take=50,
    )
    message_ids = [dispatcher.send_sms("+1 415 555 2671", f"one of many {i}") for i in range(40)]
    assert redis_client.llen("sms.normal") == 1  # the job the first message brought
    redis_client.delete("sms.normal")
    taken: list[int] = []
    try:
        taken.append(pipeline.dispatch_ready("sms.normal"))
        assert redis_client.llen(ready_list_key("sms.normal")) == 24
        (next_job,) = [json.loads(raw) for raw in redis_client.lrange("sms.normal", 0, -1)]
        assert next_job["headers"]["task"] == "sms.send_ready"
        while redis_client.lpop("sms.normal") is not None:  # each job in turn, as a worker would
            taken.append(pipeline.dispatch_ready("sms.normal"))
        _wait_accepted(dispatcher, message_ids, 20)
    finally:
        assert pipeline.drain(10)
    assert taken[0] == 16
    assert sum(taken) == 40
    assert redis_client.llen("sms.normal") == 0
