"""One delivery, in-process: real Redis, the real loop bridge and the simulator on loopback."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from dispatcher.config.settings import Settings
from dispatcher.devstack.embedded_redis import free_port
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.sending.send_bridge import SendBridge
from dispatcher.store.redis_keys import message_key, pause_key
from providers.simulator import ScriptedAnswer
from tests.conftest import SINCH_PLAN, SINCH_TOKEN, RunningSimulator, end_lease
from tests.send_path_helpers import DirectCourier


@pytest.fixture
def bridge() -> Iterator[SendBridge]:
    running = SendBridge(connections_per_provider=8)
    yield running
    running.close()


def courier_for(
    settings: Settings,
    dispatcher: Dispatcher,
    bridge: SendBridge,
    clock_ms: Callable[[], int] | None = None,
) -> DirectCourier:
    return DirectCourier(
        settings, dispatcher, bridge, **({"clock_ms": clock_ms} if clock_ms else {})
    )


@pytest.mark.parametrize(("provider", "indexed"), [("sinch", False), ("twilio", True)])
def test_provider_ids_are_indexed_only_where_reports_lack_our_id(
    settings: Settings,
    dispatcher: Dispatcher,
    bridge: SendBridge,
    provider: str,
    indexed: bool,
) -> None:
    """Sinch's reports echo our message id, so its batch ids need no index; Twilio's name only
    its own id, so an accepted Twilio send indexes it for the report to find the message."""
    message_id = dispatcher.send_sms("+1 415 555 2671", "hello", providers=[provider])
    assert courier_for(settings, dispatcher, bridge).deliver(message_id) == "accepted"
    provider_message_id = dispatcher.get_status(message_id)["provider_message_id"]
    assert provider_message_id
    assert len(dispatcher.store_client.keys("smsd:pmid:*")) == (1 if indexed else 0)
    found = dispatcher.store.find_by_provider_id(provider, provider_message_id)
    assert found == (message_id if indexed else None)


def test_accepted_with_the_batch_id(
    settings: Settings, dispatcher: Dispatcher, bridge: SendBridge, simulator: RunningSimulator
) -> None:
    """An accepted send records Sinch's batch id; the simulator saw one correct request."""
    message_id = dispatcher.send_sms("+1 415 555 2671", "hello", sender="Acme")
    courier = courier_for(settings, dispatcher, bridge)
    assert courier.deliver(message_id, task_id="t1") == "accepted"
    status = dispatcher.get_status(message_id)
    received = simulator.state.requests
    assert len(received) == 1
    assert received[0].payload["to"] == ["+14155552671"]
    assert received[0].payload["body"] == "hello"
    assert received[0].payload["from"] == "Acme"
    assert received[0].payload["client_reference"] == message_id
    assert received[0].path == f"/xms/v1/{SINCH_PLAN}/batches"
    assert status["state"] == "accepted"
    assert status["provider"] == "sinch"
    assert status["provider_message_id"] == received[0].provider_message_id
    assert [a["outcome"] for a in status["attempts"]] == ["accepted"]
    assert status["attempts"][0]["http_status"] == 201
    assert status["attempts"][0]["task_id"] == "t1"


def test_redelivered_job_is_not_sent_again(
    settings: Settings, dispatcher: Dispatcher, bridge: SendBridge, simulator: RunningSimulator
) -> None:
    """A second job for an accepted message is acknowledged without calling the provider."""
    message_id = dispatcher.send_sms("+14155552671", "once")
    courier = courier_for(settings, dispatcher, bridge)
    assert courier.deliver(message_id) == "accepted"
    assert courier.deliver(message_id) == "already_done"
    assert simulator.state.sends_by_reference[message_id] == 1


def test_rejected_by_sinch_code(
    settings: Settings, dispatcher: Dispatcher, bridge: SendBridge, simulator: RunningSimulator
) -> None:
    """A 400 with Sinch's code ends the message failed, with the code and text recorded."""
    simulator.state.script(
        "+14155552671",
        [_answer(400, {"code": "syntax_invalid_parameter_format", "text": "Invalid MSISDN"})],
    )
    message_id = dispatcher.send_sms("+14155552671", "x")
    assert courier_for(settings, dispatcher, bridge).deliver(message_id) == "failed"
    status = dispatcher.get_status(message_id)
    attempt = status["attempts"][0]
    assert (attempt["outcome"], attempt["http_status"], attempt["provider_code"]) == (
        "rejected",
        400,
        "syntax_invalid_parameter_format",
    )
    assert attempt["reason"] == "Invalid MSISDN"
    assert status["final_reason"] == "rejected"
    assert "syntax_invalid_parameter_format" in status["final_detail"]
    assert dispatcher.store.dead_lettered_at_ms(message_id) is not None
    assert redis_ttl(dispatcher, message_id) == -1  # a dead letter does not expire


def test_wrong_token_is_a_provider_error(
    settings: Settings,
    dispatcher: Dispatcher,
    bridge: SendBridge,
    simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The simulator checks the token: a wrong one is answered 401, a provider error."""
    monkeypatch.setenv("SMSD_PROVIDERS__SINCH__API_TOKEN", "wrong-token")
    from dispatcher.config.settings import load_settings

    message_id = dispatcher.send_sms("+14155552671", "x")
    courier = courier_for(load_settings(), dispatcher, bridge)
    assert courier.deliver(message_id) == "failed"
    status = dispatcher.get_status(message_id)
    attempt = status["attempts"][0]
    assert (attempt["outcome"], attempt["http_status"]) == ("provider_error", 401)
    assert status["final_reason"] == "provider_error"
    assert len(simulator.state.requests) == 0
    assert SINCH_TOKEN not in str(dispatcher.get_status(message_id))


def redis_ttl(dispatcher: Dispatcher, message_id: str) -> int:
    return int(dispatcher.store_client.ttl(message_key(message_id)))


def test_read_timeout_is_ambiguous_and_bounded(
    settings: Settings, dispatcher: Dispatcher, bridge: SendBridge, simulator: RunningSimulator
) -> None:
    """An answer slower than the provider timeout (2 s here) ends as an ambiguous attempt."""
    simulator.state.script("+14155552671", [_answer(201, None, delay_ms=4000, success=True)])
    message_id = dispatcher.send_sms("+14155552671", "slow")
    started = time.monotonic()
    courier_for(settings, dispatcher, bridge).deliver(message_id)
    elapsed = time.monotonic() - started
    status = dispatcher.get_status(message_id)
    assert status["attempts"][0]["outcome"] == "ambiguous"
    assert elapsed < 3.5
    # on_ambiguous = "retry" (the default): tried again later, flagged as a possible duplicate
    assert status["state"] == "retry_scheduled"
    assert status["possible_duplicate"] is True


def test_connection_refused_is_retryable(
    dispatcher: Dispatcher,
    bridge: SendBridge,
    monkeypatch: pytest.MonkeyPatch,
    simulator: RunningSimulator,
) -> None:
    """Nothing listening: the request never left, so the attempt is retryable, not ambiguous."""
    monkeypatch.setenv("SMSD_PROVIDERS__SINCH__BASE_URL", f"http://127.0.0.1:{free_port()}")
    from dispatcher.config.settings import load_settings

    message_id = dispatcher.send_sms("+14155552671", "x")
    assert courier_for(load_settings(), dispatcher, bridge).deliver(message_id) == "retry_scheduled"
    status = dispatcher.get_status(message_id)
    attempt = status["attempts"][0]
    assert (attempt["outcome"], attempt["reason"]) == ("retryable", "ClientConnectorError")
    assert status["possible_duplicate"] is False  # nothing left: no duplicate is possible


def test_expired_before_send(
    settings: Settings, dispatcher: Dispatcher, bridge: SendBridge, simulator: RunningSimulator
) -> None:
    """A message whose validity passed while queued ends expired and is never sent."""
    message_id = dispatcher.send_sms("+14155552671", "late", validity=1)
    later = int(time.time() * 1000) + 5_000
    courier = courier_for(settings, dispatcher, bridge, clock_ms=lambda: later)
    assert courier.deliver(message_id) == "expired"
    status = dispatcher.get_status(message_id)
    assert status["state"] == "expired"
    assert status["final_reason"] == "expired"
    assert status["attempts"] == []
    assert dispatcher.store.dead_lettered_at_ms(message_id) is not None
    assert simulator.state.total_sends == 0


def left_by_a_dead_sender(dispatcher: Dispatcher, client: redis.Redis, body: str) -> str:
    """A new message, claimed and left `sending` by a worker that died (its lease ran out)."""
    message_id = dispatcher.send_sms("+14155552671", body)
    dispatcher.store.claim(message_id, lease_ms=60_000, now_ms=int(time.time() * 1000))
    end_lease(client, message_id)
    return message_id


def test_send_after_a_dead_sender_is_marked(
    settings: Settings,
    dispatcher: Dispatcher,
    bridge: SendBridge,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """A message left in `sending` by a worker that died is sent with possible_duplicate set."""
    message_id = left_by_a_dead_sender(dispatcher, redis_client, "x")
    courier_for(settings, dispatcher, bridge).deliver(message_id)
    status = dispatcher.get_status(message_id)
    assert status["possible_duplicate"] is True
    assert status["attempts"][0]["possible_duplicate"] is True


def test_busy_lease_leaves_the_message_alone(
    settings: Settings, dispatcher: Dispatcher, bridge: SendBridge, simulator: RunningSimulator
) -> None:
    """While another sender holds the lease, a second job does not send."""
    message_id = dispatcher.send_sms("+14155552671", "x")
    dispatcher.store.claim(message_id, lease_ms=60_000, now_ms=int(time.time() * 1000))
    assert courier_for(settings, dispatcher, bridge).deliver(message_id) == "busy"
    assert simulator.state.total_sends == 0


def _answer(
    status: int, body: object, *, delay_ms: int = 0, success: bool = False
) -> ScriptedAnswer:
    return ScriptedAnswer(status=status, body=body, delay_ms=delay_ms, success=success)


def test_completing_again_after_a_redis_error_counts_the_attempt_once(
    settings: Settings, dispatcher: Dispatcher, bridge: SendBridge, simulator: RunningSimulator
) -> None:
    """begin, the exchange, then complete without the gates (as a finisher's second try after
    Redis failed it): the message is recorded, and the provider's window has no second count."""
    simulator.state.script("+14155552671", [ScriptedAnswer(503)])
    message_id = dispatcher.send_sms("+14155552671", "hello")
    courier = courier_for(settings, dispatcher, bridge)
    pending = courier.begin(message_id, task_id="t1")
    assert not isinstance(pending, str)
    outcome = bridge.send(pending.provider, pending.sms)
    assert courier.complete(pending, outcome, latency_ms=3, report_to_gates=False) == (
        "retry_scheduled"
    )
    now_ms = int(time.time() * 1000)
    assert courier.gates.windows(["sinch"], now_ms=now_ms)["sinch"].calls == 0
    assert dispatcher.get_status(message_id)["attempts"][0]["outcome"] == "retryable"


def test_a_dead_senders_message_that_must_wait_keeps_its_flag(
    settings: Settings,
    dispatcher: Dispatcher,
    bridge: SendBridge,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """A message whose sender died mid-send (the provider may have it), claimed again while
    its provider is paused: it waits without a send, flagged possible_duplicate, and its next
    send, once the pause is over, is flagged too."""
    message_id = left_by_a_dead_sender(dispatcher, redis_client, "the sender died")
    redis_client.set(pause_key("sinch"), "1", px=1_500)
    courier = courier_for(settings, dispatcher, bridge)
    assert courier.deliver(message_id) == "retry_scheduled"
    status = dispatcher.get_status(message_id)
    assert status["attempts"] == []
    assert status["possible_duplicate"] is True
    time.sleep(1.6)
    redis_client.hset(message_key(message_id), "next_attempt_at_ms", 0)
    assert courier.deliver(message_id) == "accepted"
    status = dispatcher.get_status(message_id)
    assert status["possible_duplicate"] is True
    assert status["attempts"][-1]["possible_duplicate"] is True
