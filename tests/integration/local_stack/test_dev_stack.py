"""`smsdispatch dev` as a new user runs it: embedded Redis, simulator, worker, API; then send."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from dispatcher.devstack.embedded_redis import free_port
from tests.conftest import REPO, wait_for


@pytest.fixture
def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSD_")}
    env["SMSD_DATA_DIR"] = str(tmp_path / "smsd")
    return env


def test_dev_stack_sends_and_stops_cleanly(clean_env: dict[str, str], tmp_path: Path) -> None:
    """With no SMSD_REDIS_URL, dev runs embedded Redis with AOF; send + status see `accepted`,
    then `delivered` once the simulator's report reaches the API."""
    cli = [sys.executable, "-m", "dispatcher"]
    log_path = tmp_path / "dev.log"
    with log_path.open("wb") as log:
        dev = subprocess.Popen(
            [
                *cli,
                "dev",
                "--api-port",
                str(free_port()),
                "--simulator-port",
                str(free_port()),
                "--concurrency",
                "4",
            ],
            env=clean_env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        state_path = tmp_path / "smsd" / "dev.json"
        try:
            wait_for(state_path.exists, timeout_s=60, interval_s=0.2)
            state = json.loads(state_path.read_text())
            assert state["redis_url"].startswith("redis://127.0.0.1:")
            assert state["api_url"].startswith("http://127.0.0.1:")

            sent = subprocess.run(
                [*cli, "send", "--to", "+447400123456", "--body", "hello"],
                env=clean_env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            message_id = sent.stdout.strip()
            shown = subprocess.run(
                [*cli, "status", message_id, "--wait", "20"],
                env=clean_env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=40,
                check=True,
            )
            assert json.loads(shown.stdout)["state"] in ("accepted", "delivered")

            def delivered() -> bool:
                again = subprocess.run(
                    [*cli, "status", message_id],
                    env=clean_env,
                    cwd=REPO,
                    capture_output=True,
                    text=True,
                    timeout=30,
                    check=True,
                )
                return bool(json.loads(again.stdout)["state"] == "delivered")

            # The stack wires the simulator's delivery reports back into its API.
            wait_for(delivered, timeout_s=20, interval_s=0.5)

            demo = subprocess.run(
                [*cli, "demo"],
                env=clean_env,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=90,
                check=True,
            )
            # Every path shows: delivered, dead letters (failed), reported undelivered.
            assert re.search(r"sent 40; now: \d+ delivered, 4 failed, 4 undelivered", demo.stdout)
            assert f"{state['api_url']}/dashboard#key=" in demo.stdout
        finally:
            dev.send_signal(signal.SIGINT)
            dev.wait(timeout=40)
    assert not state_path.exists()
    assert (tmp_path / "smsd" / "redis").is_dir()
    aof = list((tmp_path / "smsd" / "redis").rglob("appendonly*"))
    assert aof, "the embedded Redis keeps an append-only file"
    output = log_path.read_text(errors="replace")
    assert "local stack is up" in output
    assert "7400123456" not in output  # the destination appears masked only
    assert "*3456" in output
