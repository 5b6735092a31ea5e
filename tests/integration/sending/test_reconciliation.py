"""Ask before resending: a message whose attempt had no clear answer is looked for at Sinch by
our reference (List Batches) before it is sent again. Real worker, Redis and the simulator, whose
Sinch personality answers the search from what it received and can be made to fail it."""

from __future__ import annotations

from typing import Any

import redis

from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import METRICS
from providers.simulator import ScriptedAnswer
from tests.conftest import RunningSimulator, WorkerFactory, wait_for
from tests.integration.sending.test_retries import FAST_RETRIES, NUMBER, script, settled

# Sinch's timeout is 2 s in the tests: an answer 3 s late is a read timeout, and ambiguous.
LATE_ANSWER = ScriptedAnswer(success=True, delay_ms=3000)


def _counted(client: redis.Redis, outcome: str) -> int:
    return int(client.hget(METRICS, f"reconciled|sinch|{outcome}") or 0)


def _attempts(status: dict[str, Any]) -> list[tuple[str, str | None, bool]]:
    return [(a["outcome"], a["reconciled"], a["possible_duplicate"]) for a in status["attempts"]]


def test_a_message_sinch_has_is_accepted_without_a_second_send(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """The answer came too late, but Sinch took the batch: the retry finds it by our reference
    and records it accepted with Sinch's batch id. One send reached Sinch."""
    worker_factory(FAST_RETRIES)
    script(simulator, LATE_ANSWER)
    message_id = dispatcher.send_sms(NUMBER, "your code is 123456")
    status = settled(dispatcher, message_id)
    assert status["state"] == "accepted"
    assert _attempts(status) == [("ambiguous", None, False), ("accepted", "found", False)]
    batch = simulator.state.accepted_with_reference("sinch", message_id)
    assert [b.provider_message_id for b in batch] == [status["provider_message_id"]]
    assert simulator.state.sends_by_reference[message_id] == 1
    assert simulator.state.lookups["sinch"] == 1
    wait_for(lambda: _counted(redis_client, "found") == 1, timeout_s=5)


def test_a_message_sinch_has_not_is_sent_again_unflagged(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """A 200 without a batch id is ambiguous; Sinch has no batch with our reference, so the
    retry sends it, and that attempt is not a possible duplicate."""
    worker_factory(FAST_RETRIES)
    script(simulator, ScriptedAnswer(status=200, body={"unexpected": True}))
    message_id = dispatcher.send_sms(NUMBER, "hi")
    status = settled(dispatcher, message_id)
    assert status["state"] == "accepted"
    assert _attempts(status) == [("ambiguous", None, False), ("accepted", "not_found", False)]
    assert simulator.state.sends_by_reference[message_id] == 2
    wait_for(lambda: _counted(redis_client, "not_found") == 1, timeout_s=5)


def test_a_failed_search_resends_as_before_and_flags_it(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """Sinch's search answers 503: nothing is known, so the message is sent again as it would
    have been without asking, flagged possible_duplicate."""
    simulator.state.fail_lookups(503, provider="sinch")
    worker_factory(FAST_RETRIES)
    script(simulator, LATE_ANSWER)
    message_id = dispatcher.send_sms(NUMBER, "hi")
    status = settled(dispatcher, message_id)
    assert status["state"] == "accepted"
    assert _attempts(status) == [("ambiguous", None, False), ("accepted", "lookup_failed", True)]
    assert status["possible_duplicate"] is True
    assert simulator.state.sends_by_reference[message_id] == 2
    wait_for(lambda: _counted(redis_client, "lookup_failed") == 1, timeout_s=5)


def test_a_clear_answer_is_never_asked_about(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """A 503 says the batch was not taken: the retry goes without asking."""
    worker_factory(FAST_RETRIES)
    script(simulator, ScriptedAnswer(status=503))
    message_id = dispatcher.send_sms(NUMBER, "hi")
    status = settled(dispatcher, message_id)
    assert _attempts(status) == [("retryable", None, False), ("accepted", None, False)]
    assert simulator.state.lookups["sinch"] == 0
