"""Resend on a temporary delivery failure, end to end: a real worker sends through Sinch, the
simulator reports it undelivered (Sinch code 404, a temporary delivery failure; or 402,
unroutable) to the API, and the message goes once more through Twilio, or not."""

from __future__ import annotations

from typing import Any

import pytest

from dispatcher.config.settings import DeliveryReportSettings, RouteSettings
from dispatcher.intake.enqueue import Dispatcher
from providers.simulator import ScriptedAnswer
from tests.conftest import ApiFactory, RunningSimulator, WorkerFactory, wait_for
from tests.integration.delivery_reports.test_api_reports import REPORT_TOKEN, report_env

NUMBER = "+14155552671"
ROUTE = ["sinch", "twilio"]


def _final(dispatcher: Dispatcher, message_id: str) -> dict[str, Any]:
    def ended() -> dict[str, Any] | None:
        found = dispatcher.get_status(message_id)
        return found if found["state"] in ("delivered", "undelivered") else None

    result = wait_for(ended, timeout_s=20)
    assert isinstance(result, dict)
    return result


@pytest.mark.parametrize(
    ("report", "opted_in", "resent"),
    [
        ("failed_temporarily", True, True),
        ("failed", True, False),
        ("failed_temporarily", False, False),
    ],
)
def test_an_undelivered_report_resends_only_for_a_passing_reason(
    *,
    api_factory: ApiFactory,
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    report: str,
    opted_in: bool,
    resent: bool,
) -> None:
    """Sinch reports the message not delivered. A temporary failure (code 404), opted in,
    sends it once more through Twilio, as a second attempt linked to the first, and it ends
    delivered; unroutable (402) never resends; nor does anything without the opt-in."""
    api = api_factory(
        delivery_reports=DeliveryReportSettings(secret=REPORT_TOKEN),
        routes=RouteSettings(resend_on_undelivered=opted_in),
    )
    worker_factory(
        {
            **report_env("sinch", api.url, simulator),
            **report_env("twilio", api.url, simulator),
            "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05",
        }
    )
    simulator.state.script(
        NUMBER, [ScriptedAnswer(success=True, report=report, provider="sinch")], repeat_last=True
    )
    message_id = dispatcher.send_sms(NUMBER, "your code is 123456", providers=ROUTE)
    status = _final(dispatcher, message_id)
    sent = [(r.provider, r.client_reference) for r in simulator.state.requests]
    attempts = [(a["provider"], a["outcome"], a["resend_of"]) for a in status["attempts"]]
    if resent:
        assert status["state"] == "delivered"
        assert attempts == [("sinch", "accepted", None), ("twilio", "accepted", 1)]
        assert status["resend_of_attempt"] == 1
        assert status["provider"] == "twilio"
        assert [p for p, _ in sent] == ["sinch", "twilio"]
        assert status["providers_left"] == ["sinch"]
    else:
        assert status["state"] == "undelivered"
        assert attempts == [("sinch", "accepted", None)]
        assert status["delivery_report"]["reason"] == (
            "Failed (code 404)" if report == "failed_temporarily" else "Failed (code 402)"
        )
        assert [p for p, _ in sent] == ["sinch"]
