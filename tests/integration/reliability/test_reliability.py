"""Faults under load, with real workers, a real Redis and the simulator: nothing accepted is lost,
and nothing is sent twice by our own doing except what was in flight at a crash, flagged.

Each scenario prints one summary line (``reliability: ...``) that the README's reliability table
quotes; run with ``-s`` to see them.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dispatcher.config.settings import Settings
from dispatcher.devstack.embedded_redis import EmbeddedRedis
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import DEAD_LETTERS, message_key
from tests.conftest import RunningSimulator, WorkerFactory, wait_for

FINAL = {"accepted", "delivered", "undelivered", "failed", "expired"}

# Jobs a dead worker had prefetched come back after 20 s; a dead sender's message after its lease
# (the simulator's 2 s timeout plus 1 s).
FAST_RECOVERY = {
    "SMSD_CELERY__VISIBILITY_TIMEOUT_S": "20",
    "SMSD_CELERY__UNACKED_RESTORE_INTERVAL_S": "1",
    "SMSD_WORKER__LEASE_MARGIN_S": "1",
    "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.1",
}


def numbers(count: int, offset: int = 0) -> list[str]:
    """``count`` distinct valid numbers, so the simulator's counts are per message."""
    return [f"+1415555{(offset + i) % 10000:04d}" for i in range(count)]


def enqueue_all(core: Dispatcher, count: int, *, offset: int = 0, **fields: object) -> list[str]:
    results = core.send_bulk(
        [{"to": to, "body": "reliability run", **fields} for to in numbers(count, offset)]
    )
    ids = [r["id"] for r in results if "id" in r]
    assert len(ids) == count, [r for r in results if "error" in r][:3]
    return ids


def states(client: redis.Redis, ids: list[str]) -> list[str]:
    pipe = client.pipeline(transaction=False)
    for message_id in ids:
        pipe.hget(message_key(message_id), "state")
    return [str(s) for s in pipe.execute()]


def possible_duplicates(client: redis.Redis, ids: list[str]) -> list[bool]:
    pipe = client.pipeline(transaction=False)
    for message_id in ids:
        pipe.hget(message_key(message_id), "possible_duplicate")
    return [s == "1" for s in pipe.execute()]


def all_final(client: redis.Redis, ids: list[str], *, timeout_s: float) -> Counter[str]:
    def done() -> Counter[str] | None:
        counted = Counter(states(client, ids))
        return counted if sum(counted[s] for s in FINAL) == len(ids) else None

    try:
        result = wait_for(done, timeout_s=timeout_s, interval_s=0.5)
    except AssertionError:
        raise AssertionError(f"not all final: {Counter(states(client, ids))}") from None
    assert isinstance(result, Counter)
    return result


def test_worker_killed_with_5000_in_flight(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """kill -9 a worker mid-run; a new worker finishes: 0 lost, and only sends that were in flight
    at the kill go out twice, each flagged possible_duplicate."""
    first = worker_factory(FAST_RECOVERY, "--concurrency", "16")
    simulator.state.latency_ms = 5
    ids = enqueue_all(dispatcher, 5000)
    wait_for(lambda: states(redis_client, ids).count("accepted") >= 1000, timeout_s=60)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    at_kill = Counter(states(redis_client, ids))
    in_flight_at_kill = at_kill["sending"]
    killed_at = time.monotonic()

    worker_factory(FAST_RECOVERY, "--concurrency", "16")
    final = all_final(redis_client, ids, timeout_s=120)
    recovered_s = time.monotonic() - killed_at

    assert final["accepted"] == len(ids), final  # lost: 0
    sends = simulator.state.sends_by_reference
    assert all(sends[message_id] >= 1 for message_id in ids)
    twice = [message_id for message_id in ids if sends[message_id] > 1]
    assert all(sends[message_id] == 2 for message_id in twice)
    assert len(twice) <= in_flight_at_kill
    flagged = dict(zip(ids, possible_duplicates(redis_client, ids), strict=True))
    assert all(flagged[message_id] for message_id in twice)
    print(
        f"\nreliability: worker killed: 5000 messages, killed at {at_kill['accepted']} accepted "
        f"with {in_flight_at_kill} sending; lost 0; sent twice {len(twice)} (all flagged); "
        f"all final {recovered_s:.1f} s after the kill"
    )


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, to restart."""
    server = EmbeddedRedis(tmp_path / "own-redis")
    server.start()
    yield server
    server.stop()


def test_redis_restarted_mid_run(
    worker_factory: WorkerFactory,
    settings: Settings,
    simulator: RunningSimulator,
    own_redis: EmbeddedRedis,
) -> None:
    """Redis (AOF on) shut down and started again under a running worker: 0 lost, and the same
    worker, not restarted, consumes the jobs enqueued after the restart."""
    env = {**FAST_RECOVERY, "SMSD_REDIS_URL": own_redis.url}
    worker = worker_factory(env)
    core = Dispatcher(settings, redis_url=own_redis.url)
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)
    simulator.state.latency_ms = 50  # many sends under way when Redis goes
    before = enqueue_all(core, 2000)
    wait_for(lambda: states(client, before).count("accepted") >= 300, timeout_s=60)

    own_redis.stop()  # SHUTDOWN: the AOF is flushed, every client is cut off
    time.sleep(2)
    own_redis.start()
    restarted_at = time.monotonic()
    after = enqueue_all(core, 500, offset=5000)
    final = all_final(client, before + after, timeout_s=90)
    recovered_s = time.monotonic() - restarted_at

    assert worker.process.poll() is None
    assert final["accepted"] == len(before) + len(after), final
    sends = simulator.state.sends_by_reference
    twice = [m for m in before + after if sends[m] > 1]
    flagged = dict(zip(before, possible_duplicates(client, before), strict=True))
    assert all(flagged.get(m) for m in twice)
    assert not [m for m in after if sends[m] != 1]
    log = worker.log()
    requeued = log.count('"sms.job_requeued"')
    lost_jobs = sum(
        json.loads(line)["count"]
        for line in log.splitlines()
        if '"scheduler.requeued_lost_jobs"' in line
    )
    assert "Unrecoverable error" not in log
    print(
        f"\nreliability: Redis restarted: 2000 + 500 messages, restart at >= 300 accepted; "
        f"lost 0; sent twice {len(twice)} (all flagged); jobs requeued {requeued}, "
        f"lost jobs given a new one {lost_jobs}; all final {recovered_s:.1f} s after the restart, "
        f"same worker"
    )
    client.close()
    core.close()


def test_provider_outage_of_20_s(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """Every provider answers 503 for 20 s: messages valid past the outage end accepted, the
    others expired in the dead letters, none lost."""
    env = {
        **FAST_RECOVERY,
        "SMSD_RETRY__BASE_S": "0.5",
        "SMSD_RETRY__CAP_S": "3",
        "SMSD_RETRY__MAX_ATTEMPTS": "40",
    }
    worker_factory(env)
    simulator.state.start_outage(503, seconds=20)
    began = time.monotonic()
    short = enqueue_all(dispatcher, 100, validity=10)
    long = enqueue_all(dispatcher, 100, offset=100, validity=120)
    final = all_final(redis_client, short + long, timeout_s=80)
    took_s = time.monotonic() - began

    assert states(redis_client, short) == ["expired"] * len(short)
    assert states(redis_client, long) == ["accepted"] * len(long)
    dead = redis_client.zrange(DEAD_LETTERS, 0, -1)
    assert set(short) <= set(dead)
    assert not set(long) & set(dead)
    sent_in_outage = simulator.state.total_sends - len(long)
    print(
        f"\nreliability: provider outage 20 s: 200 messages; {final['accepted']} accepted, "
        f"{final['expired']} expired (dead letters), lost 0; {sent_in_outage} requests during the "
        f"outage; all final after {took_s:.1f} s"
    )
