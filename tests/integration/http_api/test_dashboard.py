"""The dashboard page in headless Chromium (Debian's package) after a scripted run: it shows the
providers and the dead letters; a screenshot is kept in .artifacts/dashboard.png."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from dispatcher.intake.enqueue import Dispatcher
from providers.simulator import ScriptedAnswer
from tests.conftest import OPERATOR_KEY, REPO, ApiFactory, RunningSimulator, WorkerFactory
from tests.integration.http_api.test_api import call, wait_for_state

ARTIFACTS = REPO / ".artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=8000",
]


def chromium(tmp_path: Path, *args: str) -> str:
    binary = shutil.which("chromium")
    if binary is None:
        pytest.fail(
            "Debian's chromium is needed: `make test` installs it (apt-get install chromium)"
        )
    done = subprocess.run(
        [binary, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=True,
    )
    return done.stdout


def test_dashboard_shows_providers_and_dead_letters(
    api_factory: ApiFactory,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    dispatcher: Dispatcher,
    tmp_path: Path,
) -> None:
    api = api_factory()
    worker_factory({"SMSD_RETRY__BASE_S": "0.1", "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05"})
    simulator.state.script(
        "+14155550100", [ScriptedAnswer(400, code="syntax_invalid_parameter_format")]
    )
    simulator.state.script("+14155550101", [ScriptedAnswer(503), ScriptedAnswer(503)])
    sent = {
        to: call("POST", f"{api.url}/v1/messages", {"to": to, "body": "demo", "providers": [p]})[1][
            "id"
        ]
        for to, p in [
            ("+14155550100", "sinch"),
            ("+14155550101", "sinch"),
            ("+14155550102", "twilio"),
            ("+14155550103", "vonage"),
        ]
    }
    dead = sent["+14155550100"]

    for message_id in sent.values():
        wait_for_state(api.url, message_id, "accepted", "delivered", "failed")
    reported = dispatcher.store.apply_report(  # as Twilio's status callback would
        sent["+14155550102"],
        provider="twilio",
        state="delivered",
        provider_status="delivered",
        reason="",
        now_ms=int(time.time() * 1000),
    )
    assert reported == "applied"
    dispatcher.opt_outs.add("+14155550199")
    url = f"{api.url}/dashboard#key={OPERATOR_KEY}"
    dom = chromium(tmp_path, "--dump-dom", url)
    for provider in ("sinch", "twilio", "vonage"):
        assert f'data-provider="{provider}"' in dom
    assert dead in dom
    assert "Replay" in dom
    # What reached the phone, by provider and country: Twilio's one report for +1.
    assert re.search(r"<td>twilio</td><td>\+1</td><td class=\"num\">1</td>", dom), dom[-3000:]
    assert "syntax_invalid_parameter_format" in dom or "rejected" in dom
    assert '<div class="card"><b>1</b>opt-outs</div>' in dom
    assert OPERATOR_KEY not in dom  # the key is kept out of the page

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    screenshot.unlink(missing_ok=True)
    chromium(tmp_path, f"--screenshot={screenshot}", "--window-size=1280,1700", url)
    assert screenshot.stat().st_size > 10_000
    print(f"\ndashboard screenshot: {screenshot}")


def test_dashboard_without_a_key_asks_for_one(api_factory: ApiFactory, tmp_path: Path) -> None:
    api = api_factory()
    dom = chromium(tmp_path, "--dump-dom", f"{api.url}/dashboard")
    assert '<form id="login">' in dom  # shown (no hidden attribute)
    assert 'id="board" hidden' in dom
    status, _ = call("GET", f"{api.url}/v1/dashboard", key=None)
    assert status == 401
