"""A web app that only sends: ``import dispatcher``, ``send_sms``, ``get_status`` load no
worker, pipeline, event-loop bridge, API or simulator, and connect no Celery signal of ours."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from dispatcher.devstack.embedded_redis import EmbeddedRedis
from tests.conftest import REPO

# Run in a fresh interpreter: what a web app's process holds after sending one message.
WEB_APP = r"""
import json, sys, weakref
import celery.signals
from celery.utils.dispatch.signal import Signal

import dispatcher

message_id = dispatcher.send_sms("+14155552671", "Your code is 123456", priority="high")
state = dispatcher.get_status(message_id)["state"]

ours = []
for name, signal in vars(celery.signals).items():
    if isinstance(signal, Signal):
        for _key, ref in signal.receivers:
            receiver = ref() if isinstance(ref, weakref.ReferenceType) else ref
            module = getattr(receiver, "__module__", "") or ""
            if module.startswith(("dispatcher", "providers")):
                ours.append(f"{name}: {module}")
loaded = sorted(m for m in sys.modules if m.startswith(("dispatcher", "providers", "aiohttp")))
print(json.dumps({"state": state, "signals": ours, "loaded": loaded}))
"""

# What a sending web app must not hold.
NOT_LOADED = (
    "dispatcher.worker",
    "dispatcher.sending",
    "dispatcher.api",
    "dispatcher.devstack",
    "dispatcher.ops",
    "providers.simulator",
    "providers.adapters",
    "aiohttp",
)


def test_a_sending_web_app_loads_nothing_of_the_worker(redis_server: EmbeddedRedis) -> None:
    """send_sms and get_status in a fresh interpreter, against a real Redis: the message is
    queued, and no module of the worker, the send path, the API, the simulator (nor aiohttp) is
    loaded, nor any Celery signal handler of ours connected."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMSD_")}
    env["SMSD_REDIS_URL"] = redis_server.url
    out = subprocess.run(
        [sys.executable, "-c", WEB_APP],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["state"] == "queued"
    assert seen["signals"] == []
    assert [m for m in seen["loaded"] if m.startswith(NOT_LOADED)] == []
    assert "dispatcher.intake.enqueue" in seen["loaded"]  # the test looks where it should
