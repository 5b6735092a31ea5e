"""Providers that report only when asked (GoSMS, YellowPush): a real worker looks up each
accepted message's status at the simulator on loopback, which pushes no report, until a final
status; Redis is real."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from dispatcher.config.provider_adapters import build_providers
from dispatcher.config.settings import Settings, load_settings
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.sending.send_plan import build_send_plans
from dispatcher.store.redis_keys import METRICS, poll_queue_key
from providers.simulator.state import ScriptedAnswer
from tests.conftest import RunningSimulator, WebApp, WorkerFactory, wait_for

NUMBER = "+14155552671"
# First lookup 1 s after acceptance, then every second; the handset answers after 2.5 s.
FAST_LOOKUPS = {
    "SMSD_PROVIDERS__GOSMS__POLL_SCHEDULE_S": "[1]",
    "SMSD_PROVIDERS__YELLOWPUSH__POLL_SCHEDULE_S": "[1]",
    "SMSD_DELIVERY_REPORTS__POLL_INTERVAL_S": "0.1",
    "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05",
}
INTERMEDIATE = {"gosms": "2", "yellowpush": "SENT"}


def test_only_providers_that_answer_lookups_are_asked(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GoSMS and YellowPush are asked on their schedule; Sinch reports by callback and is not;
    ``poll_reports = false`` leaves GoSMS to its webhook."""
    plans = build_send_plans(settings, build_providers(settings))
    assert plans["gosms"].poll_schedule_ms[:2] == (30_000, 60_000)
    assert plans["yellowpush"].poll_schedule_ms[-1] == 3_600_000
    assert plans["sinch"].poll_schedule_ms == ()
    monkeypatch.setenv("SMSD_PROVIDERS__GOSMS__POLL_REPORTS", "false")
    off = load_settings()
    assert build_send_plans(off, build_providers(off))["gosms"].poll_schedule_ms == ()


def _status(dispatcher: Dispatcher, message_id: str) -> dict[str, Any]:
    return dispatcher.get_status(message_id)


def _in_state(dispatcher: Dispatcher, message_id: str, state: str) -> dict[str, Any] | None:
    found = _status(dispatcher, message_id)
    return found if found["state"] == state else None


@pytest.mark.parametrize("provider", ["gosms", "yellowpush"])
def test_a_message_ends_delivered_by_lookups_alone(
    provider: str,
    *,
    dispatcher: Dispatcher,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
    web_app: WebApp,
) -> None:
    """Nothing is pushed: the worker asks 1 s after acceptance and every second after; the
    intermediate status is kept as the latest report without ending anything, the final one
    moves the message to delivered (with its status callback), and then it is asked no more."""
    simulator.state.report_delay_ms = 2_500
    worker_factory(FAST_LOOKUPS)
    message_id = dispatcher.send_sms(NUMBER, "hi", providers=[provider], callback_url=web_app.url)

    def looked_up_once() -> dict[str, Any] | None:
        found = _in_state(dispatcher, message_id, "accepted")
        return found if found and found["delivery_report"] else None

    pending = wait_for(looked_up_once, timeout_s=10)
    assert isinstance(pending, dict)
    assert pending["delivery_report"]["provider_status"] == INTERMEDIATE[provider]
    delivered = wait_for(lambda: _in_state(dispatcher, message_id, "delivered"), timeout_s=15)
    assert isinstance(delivered, dict)
    lookups = delivered["status_lookups"]
    assert 2 <= lookups <= 4, lookups  # about 1, 2 and 3 s after acceptance
    assert simulator.state.lookups[provider] == lookups
    assert not simulator.state.reports_posted  # nothing was pushed
    assert redis_client.zscore(poll_queue_key(provider), message_id) is None
    # The lookup is counted just after its report is applied (one more round trip).
    wait_for(lambda: redis_client.hget(METRICS, f"polls|{provider}|delivered") == "1", timeout_s=5)
    assert redis_client.hget(METRICS, "messages|delivered") == "1"
    wait_for(lambda: len(web_app.received) >= 2)
    assert sorted(e["state"] for e in web_app.events()) == ["accepted", "delivered"]
    time.sleep(1.5)  # past the next lookup it would have had
    assert simulator.state.lookups[provider] == lookups  # asked no more


def test_an_undelivered_status_ends_the_message_with_the_reason(
    dispatcher: Dispatcher, worker_factory: WorkerFactory, simulator: RunningSimulator
) -> None:
    """GoSMS status 5 (delivery error) moves the message to undelivered with GoSMS's words."""
    simulator.state.report_delay_ms = 0
    worker_factory(FAST_LOOKUPS)
    simulator.state.script(NUMBER, [ScriptedAnswer(success=True, report="failed")])
    message_id = dispatcher.send_sms(NUMBER, "hi", providers=["gosms"])
    ended = wait_for(lambda: _in_state(dispatcher, message_id, "undelivered"), timeout_s=10)
    assert isinstance(ended, dict)
    assert ended["delivery_report"]["provider_status"] == "5"
    assert ended["delivery_report"]["reason"] == "Ошибка доставки"
    assert ended["status_lookups"] == 1


def test_a_lookup_outage_changes_nothing_until_the_provider_answers_again(
    dispatcher: Dispatcher,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """While every lookup gets a 503, the message stays accepted with no report and is asked
    again on the schedule; once the provider answers, the next lookup delivers it."""
    simulator.state.report_delay_ms = 0
    simulator.state.fail_lookups(503, provider="gosms")
    worker = worker_factory(FAST_LOOKUPS)
    message_id = dispatcher.send_sms(NUMBER, "hi", providers=["gosms"])
    wait_for(lambda: simulator.state.lookups["gosms"] >= 3, timeout_s=10)
    during = _status(dispatcher, message_id)
    assert during["state"] == "accepted"
    assert during["delivery_report"] is None
    wait_for(lambda: int(redis_client.hget(METRICS, "polls|gosms|failed") or 0) >= 3, timeout_s=5)
    assert redis_client.zscore(poll_queue_key("gosms"), message_id) is not None
    simulator.state.fail_lookups(None, provider="gosms")
    wait_for(lambda: _in_state(dispatcher, message_id, "delivered"), timeout_s=10)
    assert '"event": "sms.status_lookup_failed"' in worker.log()


def test_lookups_stop_when_the_wait_for_a_report_ends(
    dispatcher: Dispatcher,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """A handset that never answers: the message is asked about until its wait for a report
    (2 s here) ends delivery_unknown, and then no more."""
    simulator.state.report_delay_ms = 3_600_000
    worker_factory({**FAST_LOOKUPS, "SMSD_PROVIDERS__GOSMS__DELIVERY_REPORT_TIMEOUT_S": "2"})
    message_id = dispatcher.send_sms(NUMBER, "hi", providers=["gosms"])
    wait_for(lambda: _in_state(dispatcher, message_id, "delivery_unknown"), timeout_s=10)
    wait_for(lambda: redis_client.zscore(poll_queue_key("gosms"), message_id) is None, timeout_s=5)
    asked = simulator.state.lookups["gosms"]
    assert 1 <= asked <= 3, asked
