"""``smsdispatch demo``: a mixed batch through the running local stack, so every path shows.

It scripts the simulator (through its control API) so that, of one batch sent over the HTTP API,
some messages are accepted at once, some are retried after a 503, some fail over from a provider
that answers 401 (whose circuit then opens, so the rest skip it), some are rejected (dead
letters), and some are accepted but reported undelivered by the handset. Then it waits for them
to settle and prints where they went and the dashboard's address.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from typing import Any

from dispatcher.devstack.local_http import request_json

__all__ = ["DEMO_PLAN", "run_demo"]

# (count, destination prefix, scripted answers, providers): numbers are +14152<prefix><nnnn>, a
# number range a group, each within the pumping guard's default limits.
DEMO_PLAN: list[tuple[int, str, list[dict[str, Any]], list[str] | None]] = [
    (14, "01", [], None),  # accepted at once, then delivered
    (4, "02", [{"status": 503}], None),  # retried after a 503, then accepted
    (4, "03", [{"status": 401, "provider": "cecula"}], ["cecula", "twilio"]),  # fail over
    (4, "04", [{"status": 400, "code": "syntax_invalid_parameter_format"}], None),  # dead letters
    (4, "05", [{"success": True, "report": "failed"}], None),  # accepted, then undelivered
    (4, "06", [], ["vonage"]),  # the other providers' personalities
    (3, "07", [], ["gosms"]),
    (3, "08", [], ["yellowpush"]),
]


def run_demo(state: dict[str, Any], *, wait_s: float = 45.0) -> dict[str, Any]:
    """Send the demo batch through the stack described by ``state`` (dev.json); returns the
    final state of each message group and the dashboard URL."""
    api, simulator, key = state["api_url"], state["simulator_url"], state["api_key"]
    groups: list[list[dict[str, Any]]] = []
    for count, prefix, answers, providers in DEMO_PLAN:
        group = []
        for n in range(count):
            to = f"+14152{prefix}{n:04d}"
            if answers:
                request_json(f"{simulator}/_sim/scripts", {"to": to, "answers": answers})
            message: dict[str, Any] = {
                "to": to,
                "body": f"sms-dispatch demo ({prefix})",
                "priority": "high" if prefix == "01" and n < 2 else "normal",
                "metadata": {"demo": prefix},
            }
            if providers:
                message["providers"] = providers
            group.append(message)
        groups.append(group)
    # Interleaved, as real traffic is: a run of the 503s alone would open Sinch's circuit.
    messages = [m for row in itertools.zip_longest(*groups) for m in row if m is not None]
    batch = request_json(f"{api}/v1/messages:batch", {"messages": messages}, key=key)
    ids = [r["id"] for r in batch["results"] if "id" in r]
    deadline = time.monotonic() + wait_s
    settled = {"delivered", "undelivered", "delivery_unknown", "failed", "expired"}  # final
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {i: request_json(f"{api}/v1/messages/{i}", key=key)["state"] for i in ids}
        if all(s in settled for s in states.values()):
            break
        time.sleep(1)
    outcome = Counter(states.values())
    return {
        "sent": len(ids),
        "states": dict(outcome),
        "dashboard": f"{api}/dashboard#key={key}",
    }
