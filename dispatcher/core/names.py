"""The names sms-dispatch gives its queues and tasks, shared by enqueue, the worker and the
scripts that queue jobs themselves (they take a queue's name as an argument, never spell it).

One queue per priority: Redis priorities in Celery are coarse and inverted, separate queues are
not. Each worker also consumes a queue of its own, for the canary job that proves it still fetches
(:mod:`dispatcher.store.heartbeats`).
"""

from __future__ import annotations

__all__ = [
    "CANARY_PREFIX",
    "HEARTBEAT_TASK",
    "PRIORITY_QUEUES",
    "REFUSAL_CODES",
    "SEND_BATCH_TASK",
    "SEND_READY_TASK",
    "SEND_TASK",
    "canary_queue",
]

PRIORITY_QUEUES: dict[str, str] = {"high": "sms.high", "normal": "sms.normal", "bulk": "sms.bulk"}

SEND_TASK = "sms.send"  # one argument: a message id
SEND_BATCH_TASK = "sms.send_batch"  # one argument: message ids joined by commas
SEND_READY_TASK = "sms.send_ready"  # one argument: the queue whose ready list it drains
HEARTBEAT_TASK = "sms.heartbeat"  # one argument: the worker's name

CANARY_PREFIX = "smsd.canary."

# What a guard at the door refuses a valid message for (``dispatcher.Refused.code``), each
# counted as ``refused|<code>``.
REFUSAL_CODES: tuple[str, ...] = (
    "opted_out",
    "country_not_allowed",
    "destination_rate_limited",
    "pumping_suspected",
    "spend_cap_reached",
)


def canary_queue(worker_name: str) -> str:
    """The queue only ``worker_name`` consumes, for its canary jobs."""
    return CANARY_PREFIX + worker_name
