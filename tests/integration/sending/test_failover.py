"""Failover between providers with a real worker, Redis and the simulator's personalities."""

from __future__ import annotations

from pathlib import Path

import pytest

from dispatcher.config.settings import load_settings, reset_settings
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.ops.dead_letters import DeadLetterFilter, DeadLetters
from providers.simulator import ScriptedAnswer
from tests.conftest import REPO, RunningSimulator, WorkerFactory
from tests.integration.sending.test_retries import FAST_RETRIES, NUMBER, settled

ROUTE = ["sinch", "twilio"]


def test_provider_error_fails_over_to_the_next_provider(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """Sinch answers 401: the message moves to Twilio at once and is accepted there."""
    worker_factory(FAST_RETRIES)
    simulator.state.script(NUMBER, [ScriptedAnswer(401)])
    message_id = dispatcher.send_sms(NUMBER, "fail over", providers=ROUTE)
    status = settled(dispatcher, message_id)
    assert status["state"] == "accepted"
    assert status["provider"] == "twilio"
    assert status["provider_message_id"].startswith("SM")
    attempts = [(a["provider"], a["outcome"], a["next_provider"]) for a in status["attempts"]]
    assert attempts == [("sinch", "provider_error", "twilio"), ("twilio", "accepted", None)]
    assert status["providers_left"] == ["sinch"]


def test_retryable_fails_over_after_the_provider_budget(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """Two 503s use Sinch's budget of 2; the third attempt goes to Twilio."""
    worker_factory({**FAST_RETRIES, "SMSD_PROVIDERS__SINCH__ATTEMPTS_BEFORE_FAILOVER": "2"})
    simulator.state.script(NUMBER, [ScriptedAnswer(503), ScriptedAnswer(503)])
    message_id = dispatcher.send_sms(NUMBER, "budget", providers=ROUTE)
    status = settled(dispatcher, message_id)
    assert status["state"] == "accepted"
    assert [(a["provider"], a["http_status"], a["next_provider"]) for a in status["attempts"]] == [
        ("sinch", 503, None),
        ("sinch", 503, "twilio"),
        ("twilio", 201, None),
    ]


def test_rejected_does_not_fail_over(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """A message Sinch rejects is dead-lettered; Twilio never sees it."""
    worker_factory(FAST_RETRIES)
    simulator.state.script(NUMBER, [ScriptedAnswer(403, code="illegal_number_type")])
    message_id = dispatcher.send_sms(NUMBER, "no", providers=ROUTE)
    status = settled(dispatcher, message_id)
    assert (status["state"], status["final_reason"]) == ("failed", "rejected")
    assert [r.provider for r in simulator.state.requests] == ["sinch"]


def test_every_provider_failing_dead_letters_with_the_whole_story(
    worker_factory: WorkerFactory, dispatcher: Dispatcher, simulator: RunningSimulator
) -> None:
    """Both providers refuse our account: dead-lettered after one attempt on each."""
    worker_factory(FAST_RETRIES)
    simulator.state.script(NUMBER, [ScriptedAnswer(401), ScriptedAnswer(401, code=20003)])
    message_id = dispatcher.send_sms(NUMBER, "nowhere", providers=ROUTE)
    status = settled(dispatcher, message_id)
    assert (status["state"], status["final_reason"]) == ("failed", "provider_error")
    assert [(a["provider"], a["http_status"]) for a in status["attempts"]] == [
        ("sinch", 401),
        ("twilio", 401),
    ]
    dead = DeadLetters(dispatcher.store).page(DeadLetterFilter(reason="provider_error"))
    assert [d["id"] for d in dead] == [message_id]


def test_prefix_routes_reach_the_right_personality(
    stack_env: dict[str, str],
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """+234 → Cecula, +7 → GoSMS, +57 → YellowPush, anything else → the default route (Sinch)."""
    config = tmp_path / "routes.toml"
    default = (REPO / "config" / "default.toml").read_text(encoding="utf-8")
    config.write_text(
        default.replace(
            "[routes.prefixes]\n",
            '[routes.prefixes]\n"234" = ["cecula"]\n"7" = ["gosms"]\n"57" = ["yellowpush"]\n',
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("SMSD_CONFIG", str(config))
    reset_settings()
    worker_factory({"SMSD_CONFIG": str(config)})
    core = Dispatcher(load_settings())
    try:
        expected = {
            "+2348031234567": "cecula",
            "+79161234567": "gosms",
            "+573001234567": "yellowpush",
            "+14155552671": "sinch",
        }
        sent = {to: core.send_sms(to, "routed") for to in expected}
        for to, message_id in sent.items():
            status = settled(core, message_id)
            assert (status["state"], status["provider"]) == ("accepted", expected[to]), to
        reached = {r.to[0]: r.provider for r in simulator.state.requests}
        assert reached == expected
    finally:
        core.close()
