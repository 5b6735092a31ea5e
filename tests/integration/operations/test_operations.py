"""What operators read after a scripted run: /metrics with exact counts from the workers'
counters, and `smsdispatch stats` (one screen, and --json)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.request

from providers.simulator import ScriptedAnswer
from tests.conftest import REPO, ApiFactory, RunningSimulator, WorkerFactory, wait_for
from tests.integration.http_api.test_api import call, wait_for_state

FAST = {
    "SMSD_RETRY__BASE_S": "0.05",
    "SMSD_RETRY__CAP_S": "0.1",
    "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.05",
}


def scripted_run(api_url: str, simulator: RunningSimulator) -> None:
    """Three messages through Sinch: 503 then accepted; 400 rejected; accepted at once."""
    simulator.state.script("+14155550111", [ScriptedAnswer(503)])
    simulator.state.script(
        "+14155550112", [ScriptedAnswer(400, code="syntax_invalid_parameter_format")]
    )
    ids = [
        call("POST", f"{api_url}/v1/messages", {"to": to, "body": "x"})[1]["id"]
        for to in ("+14155550111", "+14155550112", "+14155550113")
    ]

    for message_id in ids:
        wait_for_state(api_url, message_id, "accepted", "failed")


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_metrics_count_exactly_what_happened(
    api_factory: ApiFactory, worker_factory: WorkerFactory, simulator: RunningSimulator
) -> None:
    api = api_factory()
    worker_factory(FAST)
    worker_factory(FAST)  # two workers: the counts are shared, not per process
    scripted_run(api.url, simulator)

    def metrics_text() -> str:
        with urllib.request.urlopen(f"{api.url}/metrics", timeout=10) as response:
            return str(response.read().decode())

    # Workers write the successes they count at least every worker.report_flush_s (0.25 s).
    latency = 'smsdispatch_provider_latency_seconds_count{provider="sinch"}'
    wait_for(lambda: metric(metrics_text(), latency) >= 4, timeout_s=5)
    time.sleep(0.6)  # and nothing more comes after a couple of flushes
    text = metrics_text()
    assert metric(text, 'smsdispatch_attempts_total{outcome="accepted",provider="sinch"}') == 2
    assert metric(text, 'smsdispatch_attempts_total{outcome="retryable",provider="sinch"}') == 1
    assert metric(text, 'smsdispatch_attempts_total{outcome="rejected",provider="sinch"}') == 1
    assert metric(text, 'smsdispatch_messages_total{state="accepted"}') == 2
    assert metric(text, 'smsdispatch_messages_total{state="failed"}') == 1
    assert metric(text, 'smsdispatch_provider_latency_seconds_count{provider="sinch"}') == 4
    assert (
        metric(text, 'smsdispatch_provider_latency_seconds_bucket{le="+Inf",provider="sinch"}') == 4
    )
    assert metric(text, "smsdispatch_dead_letters") == 1
    assert metric(text, "smsdispatch_in_flight") == 0
    assert metric(text, "smsdispatch_workers_fresh") == 2
    assert metric(text, 'smsdispatch_circuit_state{provider="sinch"}') == 0


def test_stats_shows_queues_workers_and_providers(
    api_factory: ApiFactory,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    stack_env: dict[str, str],
) -> None:
    api = api_factory()
    worker_factory(FAST)
    scripted_run(api.url, simulator)

    def stats(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "dispatcher", "stats", *args],
            env=stack_env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout

    snapshot = json.loads(stats("--json"))
    assert snapshot["dead_letters"] == 1
    assert snapshot["queues"] == {"sms.high": 0, "sms.normal": 0, "sms.bulk": 0}
    assert snapshot["ready"] == {"sms.high": 0, "sms.normal": 0, "sms.bulk": 0}
    assert [w["stale"] for w in snapshot["workers"]] == [False]
    sinch = next(p for p in snapshot["providers"] if p["name"] == "sinch")
    assert sinch["window"]["calls"] == 4
    assert sinch["window"]["success_rate"] == 0.75  # the 503 failed; a rejection is no fault
    assert sinch["window"]["p50_ms"] is not None
    assert sinch["circuit"] == "closed"
    screen = stats()
    assert "dead letters 1" in screen
    assert "sms.normal 0 jobs, 0 ready" in screen
    assert "1 consuming, 0 stale" in screen
    assert re.search(r"^sinch\s+closed\s+4\s+75\.0%", screen, re.MULTILINE)
