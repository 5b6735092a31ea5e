"""Redis at its maxmemory (noeviction) under a running worker: new messages are refused whole at
the door, the worker stays up, and once memory is freed every message accepted before ends
final, none lost.

Prints one summary line (``reliability: ...``) that the README's reliability table quotes; run
with ``-s`` to see it.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
import redis

from dispatcher.core.names import PRIORITY_QUEUES
from dispatcher.errors import EnqueueError
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.ops.stats import render_stats, stats_snapshot
from dispatcher.store.redis_keys import MESSAGE_PREFIX, idempotency_key
from tests.conftest import ApiFactory, RunningSimulator, WorkerFactory, wait_for
from tests.integration.http_api.test_api import call
from tests.integration.reliability.test_reliability import (
    FAST_RECOVERY,
    all_final,
    enqueue_all,
    sent_twice,
    states,
)

FILLER = "test:filler:"


def fill(client: redis.Redis) -> int:
    """Write filler keys until Redis refuses one for memory; how many it took."""
    n = 0
    while True:
        try:
            client.set(f"{FILLER}{n}", "x" * 4000)
        except redis.exceptions.OutOfMemoryError:
            return n
        n += 1


def test_a_full_redis_refuses_new_messages_whole_and_loses_none_accepted(
    worker_factory: WorkerFactory,
    api_factory: ApiFactory,
    dispatcher: Dispatcher,
    redis_client: redis.Redis,
    simulator: RunningSimulator,
) -> None:
    worker = worker_factory(FAST_RECOVERY)
    api = api_factory()
    api_url = api.url
    simulator.state.latency_ms = 200  # sends under way when Redis fills
    queued = enqueue_all(dispatcher, 300, path="send_sms")
    queued += enqueue_all(dispatcher, 300, offset=400)
    used = int(redis_client.info("memory")["used_memory"])
    redis_client.config_set("maxmemory", used + 1_000_000)
    try:
        fillers = fill(redis_client)
        # Below what it holds, so that what the worker deletes (acknowledged jobs, sent
        # bodies) cannot make room while the test looks.
        redis_client.config_set("maxmemory", used // 2)
        at_full = Counter(states(redis_client, queued))
        records_at_full = set(redis_client.keys(f"{MESSAGE_PREFIX}*"))
        jobs_at_full = sum(redis_client.llen(q) for q in PRIORITY_QUEUES.values())

        with pytest.raises(EnqueueError, match="Redis is out of memory") as refused:
            dispatcher.send_sms("+14155550999", "no room", idempotency_key="full-1")
        with pytest.raises(EnqueueError, match="Redis is out of memory"):
            dispatcher.send_bulk([{"to": "+14155550998", "body": "no room either"}])
        status, answer = call(
            "POST", f"{api_url}/v1/messages", {"to": "+14155550997", "body": "no room"}
        )
        assert (status, answer["error"]["code"]) == (503, "enqueue_unavailable"), answer
        assert "Redis is out of memory" in answer["error"]["message"]
        status, answer = call(
            "POST",
            f"{api_url}/v1/messages:batch",
            {"messages": [{"to": "+14155550996", "body": "x"}]},
        )
        assert (status, answer["error"]["code"]) == (503, "enqueue_unavailable"), answer
        assert "same idempotency keys" in answer["error"]["message"]
        status, ready = call("GET", f"{api_url}/readyz", key=None)
        assert (status, ready["ready"], ready["redis"]) == (503, False, "out_of_memory"), ready
        assert ready["redis_memory"]["full"]
        assert "noeviction" in ready["reason"]
        now = int(time.time() * 1000)
        shown = render_stats(stats_snapshot(api.settings, redis_client, now_ms=now))
        assert "OUT OF MEMORY: Redis is out of memory" in shown, shown

        time.sleep(3)  # the worker meets the full Redis for a while
        assert worker.process.poll() is None
        # Nothing of the refused messages was written: no record, no key taken, no job.
        # (The worker's counters may still be written: a script whose first write cannot
        # grow memory may write on.)
        assert not redis_client.exists(idempotency_key("full-1"))
        assert set(redis_client.keys(f"{MESSAGE_PREFIX}*")) <= records_at_full
        assert sum(redis_client.llen(q) for q in PRIORITY_QUEUES.values()) <= jobs_at_full
    finally:
        redis_client.config_set("maxmemory", 0)
    freed_at = time.monotonic()
    redis_client.delete(*(f"{FILLER}{n}" for n in range(fillers + 1)))

    final = all_final(redis_client, queued, timeout_s=90)
    final_s = time.monotonic() - freed_at
    assert final["accepted"] == len(queued), final
    twice = sent_twice(redis_client, simulator, queued)
    # The refused send, tried again under its key once there is room, is a new message.
    again = dispatcher.send_sms("+14155550999", "no room", idempotency_key="full-1")
    wait_for(lambda: states(redis_client, [again]) == ["accepted"], timeout_s=30)
    assert worker.process.poll() is None  # the same worker throughout
    log = worker.log()
    assert "Unrecoverable error" not in log
    dropped = log.count('"sms.job_dropped"')
    print(
        f"\nreliability: Redis full (maxmemory, noeviction) under a worker: 300 send_sms + 300 "
        f"send_bulk queued, full after {fillers} filler keys with {at_full['accepted']} accepted; "
        f"refused at the door: send_sms, send_bulk, POST (503); {str(refused.value)[:40]}...; "
        f"jobs dropped while full {dropped}; all {len(queued)} final {final_s:.1f} s after memory "
        f"was freed; lost 0; sent twice {len(twice)} (all flagged)"
    )
