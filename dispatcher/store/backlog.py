"""What waits and what was counted, read for operators: queue depths, sends in flight, the delay
queue, dead letters, status callbacks pending, the workers' counters (``smsd:metrics``), each
provider's circuit state and last hour."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from dispatcher.core.names import PRIORITY_QUEUES, REFUSAL_CODES
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.redis_keys import (
    AWAITING_REPORTS,
    CALLBACKS,
    DEAD_LETTERS,
    DELAY_QUEUE,
    INBOUND,
    METRICS,
    OPT_OUTS,
    PENDING,
    PUMPING_BRAKES,
    circuit_key,
    hour_key,
    poll_queue_key,
    ready_list_key,
)

__all__ = ["backlog", "counters_and_circuits", "hour_rows"]


@translates_redis_errors
def backlog(client: redis.Redis, providers: Sequence[str] = ()) -> dict[str, Any]:
    """What waits, in one round trip: each Celery queue's depth (jobs), the messages on each
    queue's ready list (sent one by one, no job has taken them yet), messages in flight, in the
    delay queue, in the dead letters, accepted messages waiting for their delivery report (and,
    of each of ``providers``, for a status lookup), status callbacks not yet delivered, the
    numbers on the opt-out list, the inbound texts kept, the messages the guards at the door
    refused, by code, and the pumping guard's brakes (country to until, epoch ms)."""
    queues = list(PRIORITY_QUEUES.values())
    pipe = client.pipeline(transaction=False)
    for queue in queues:
        pipe.llen(queue)
    for queue in queues:
        pipe.llen(ready_list_key(queue))
    pipe.zcount(PENDING, "-inf", "(0")  # sends in flight: scored by their lease end, negated
    for key in (DELAY_QUEUE, DEAD_LETTERS, CALLBACKS, AWAITING_REPORTS):
        pipe.zcard(key)
    pipe.hlen(OPT_OUTS)
    pipe.zcard(INBOUND)
    pipe.hmget(METRICS, [*(f"refused|{code}" for code in REFUSAL_CODES), "smart_encoded"])
    pipe.hgetall(PUMPING_BRAKES)
    for name in providers:
        pipe.zcard(poll_queue_key(name))
    raw = pipe.execute()
    jobs, ready, (in_flight, retries, dead, callbacks, awaiting) = raw[:3], raw[3:6], raw[6:11]
    opt_outs, inbound, refused, brakes = raw[11:15]
    return {
        "queues": dict(zip(queues, jobs, strict=True)),
        "ready": dict(zip(queues, ready, strict=True)),
        "in_flight": in_flight,
        "waiting_to_retry": retries,
        "dead_letters": dead,
        "callbacks_pending": callbacks,
        "awaiting_reports": awaiting,
        "awaiting_lookups": dict(zip(providers, raw[15:], strict=True)),
        "opt_outs": opt_outs,
        "inbound_kept": inbound,
        "refused": {
            code: int(count or 0) for code, count in zip(REFUSAL_CODES, refused[:-1], strict=True)
        },
        "smart_encoded": int(refused[-1] or 0),
        "brakes": {str(c): int(float(until)) for c, until in sorted(brakes.items())},
    }


@translates_redis_errors
def counters_and_circuits(
    client: redis.Redis, providers: Sequence[str]
) -> tuple[dict[str, str], list[str | None]]:
    """The workers' counters since the start, and each provider's circuit state (None: never
    moved, so closed), in one round trip."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(METRICS)
    for name in providers:
        pipe.hget(circuit_key(name), "state")
    counted, *states = pipe.execute()
    return counted, states


@translates_redis_errors
def hour_rows(client: redis.Redis, providers: Sequence[str]) -> list[dict[str, int]]:
    """Each provider's last-hour hash (a slot a minute: ``b<m>`` the minute, ``<m>:<outcome>``
    counts, ``l<m>`` the latency sum), in one round trip."""
    pipe = client.pipeline(transaction=False)
    for name in providers:
        pipe.hgetall(hour_key(name))
    return [{str(k): int(v) for k, v in raw.items()} for raw in pipe.execute()]
