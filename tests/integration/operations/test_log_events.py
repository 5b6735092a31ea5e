"""Every log line of a scripted run, from a real API process and a real worker: JSON with the
documented fields, only documented events, and no full phone number or secret anywhere."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from providers.simulator import ScriptedAnswer
from tests.api_processes import running_apis
from tests.conftest import REPO, RunningSimulator, WebApp, WorkerFactory, test_secret, wait_for
from tests.integration.delivery_reports.test_api_reports import CALLBACK_SECRET, REPORT_TOKEN
from tests.integration.http_api.test_api import call, wait_for_state

API_KEY = "test-log-run-key-6f0e"
NUMBERS = {
    "retried": "+14155550121",
    "failed_over": "+14155550122",
    "dead": "+14155550123",
    "delivered": "+14155550124",
}
DOCUMENTED = {
    match.group(1)
    for match in re.finditer(
        r"^\| `([a-z_]+\.[a-z_.]+)` \|", (REPO / "docs" / "logs.md").read_text(), re.MULTILINE
    )
}


@pytest.fixture
def api_process(stack_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`smsdispatch api` as a process, logging JSON to a file."""
    env = {
        **stack_env,
        "SMSD_API__API_KEYS": API_KEY,
        "SMSD_DELIVERY_REPORTS__SECRET": REPORT_TOKEN,
        "SMSD_CALLBACKS__SECRET": CALLBACK_SECRET,
        "SMSD_LOG__FORMAT": "json",
    }
    with running_apis(env, tmp_path) as (url,):
        yield url, tmp_path / "api-0.log"


def test_log_lines_follow_the_documented_schema_and_leak_nothing(
    api_process: tuple[str, Path],
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    web_app: WebApp,
) -> None:
    api_url, api_log = api_process
    worker = worker_factory(
        {
            "SMSD_PROVIDERS__SINCH__CALLBACK_URL": (
                f"{api_url}/v1/delivery-reports/sinch?token={REPORT_TOKEN}"
            ),
            "SMSD_CALLBACKS__SECRET": CALLBACK_SECRET,
            "SMSD_RETRY__BASE_S": "0.05",
            "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05",
            "SMSD_LOG__FORMAT": "json",
        }
    )
    simulator.state.script(NUMBERS["retried"], [ScriptedAnswer(503)])
    simulator.state.script(NUMBERS["failed_over"], [ScriptedAnswer(401)])
    simulator.state.script(
        NUMBERS["dead"], [ScriptedAnswer(400, code="syntax_invalid_parameter_format")]
    )
    plans: dict[str, dict[str, object]] = {
        "retried": {},
        "failed_over": {"providers": ["cecula", "twilio"]},
        "dead": {},
        "delivered": {"callback_url": web_app.url},
    }
    ids = {}
    for name, extra in plans.items():
        body = {"to": NUMBERS[name], "body": "your code is 123456", **extra}
        headers = {"Idempotency-Key": f"log-run-{name}"}
        ids[name] = call("POST", f"{api_url}/v1/messages", body, key=API_KEY, headers=headers)[1][
            "id"
        ]
    repeat = {"to": NUMBERS["dead"], "body": "your code is 123456"}
    call(
        "POST",
        f"{api_url}/v1/messages",
        repeat,
        key=API_KEY,
        headers={"Idempotency-Key": "log-run-dead"},
    )

    wait_for_state(api_url, ids["delivered"], "delivered", key=API_KEY)
    wait_for_state(api_url, ids["dead"], "failed", key=API_KEY)
    for name in ("retried", "failed_over"):
        # Sinch's report may already have moved an accepted message on to delivered.
        wait_for_state(api_url, ids[name], "accepted", "delivered", key=API_KEY)
    wait_for(lambda: len(web_app.received) >= 2, timeout_s=20)

    lines = worker.log().splitlines() + api_log.read_text(errors="replace").splitlines()
    events = []
    for line in lines:
        if not line.startswith("{"):
            continue  # Celery's own lines (banner, "Task ... received")
        entry = json.loads(line)
        assert {"event", "level", "timestamp"} <= entry.keys(), line
        assert entry["event"] in DOCUMENTED, f"undocumented event {entry['event']!r}"
        if entry["event"].startswith("sms.") and entry["event"] != "sms.job_without_record":
            assert entry.get("message_id"), line
        events.append(entry["event"])
    for expected in (
        "sms.enqueued",
        "sms.idempotent_repeat",
        "sms.attempt",
        "sms.retry_scheduled",
        "sms.failed_over",
        "sms.accepted",
        "sms.dead_lettered",
        "sms.delivery_report",
        "callback.delivered",
        "worker.starting",
        "api.listening",
    ):
        assert expected in events, f"{expected} was not logged"

    secrets = [API_KEY, REPORT_TOKEN, CALLBACK_SECRET, "123456"]
    secrets += [
        test_secret(var)
        for var in simulator.provider_env
        if var.endswith(("TOKEN", "KEY", "SECRET", "PASSWORD"))
    ]
    for line in lines:
        for number in NUMBERS.values():
            assert number.lstrip("+") not in line, f"a full phone number in: {line}"
        for secret in secrets:
            assert secret not in line, f"a secret in: {line}"
