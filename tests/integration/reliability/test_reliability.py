"""Faults under load, with real workers, a real Redis and the simulator: nothing accepted is lost,
and nothing is sent twice by our own doing except what was in flight at a crash, flagged.

Each scenario prints one summary line (``reliability: ...``) that the README's reliability table
quotes; run with ``-s`` to see them.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from dispatcher.config.settings import Settings
from dispatcher.devstack.embedded_redis import EmbeddedRedis
from dispatcher.errors import EnqueueError
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import DEAD_LETTERS, message_key, ready_list_key
from tests.conftest import RunningSimulator, WorkerFactory, wait_for

FINAL = {"accepted", "delivered", "undelivered", "failed", "expired"}

# Jobs a dead worker had prefetched come back after 20 s, and their messages get new jobs after
# 5 s; a dead sender's message comes back after its lease (the simulator's 2 s timeout plus 1 s).
FAST_RECOVERY = {
    "SMSD_CELERY__VISIBILITY_TIMEOUT_S": "20",
    "SMSD_CELERY__UNACKED_RESTORE_INTERVAL_S": "1",
    "SMSD_WORKER__LEASE_MARGIN_S": "1",
    "SMSD_SCHEDULER__POLL_INTERVAL_S": "0.1",
    "SMSD_WORKER__CLAIM_DEADLINE_S": "5",
}


def numbers(count: int, offset: int = 0) -> list[str]:
    """``count`` distinct valid numbers, so the simulator's counts are per message."""
    return [f"+1415555{(offset + i) % 10000:04d}" for i in range(count)]


# The two ways messages reach the queues: one job per 50 of a send_bulk, or one at a time through
# send_sms onto a ready list whose jobs take up to 50 each.
PATHS = ("send_bulk", "send_sms")


def enqueue_all(
    core: Dispatcher, count: int, *, offset: int = 0, path: str = "send_bulk", **fields: object
) -> list[str]:
    if path == "send_sms":
        return [core.send_sms(to, "reliability run", **fields) for to in numbers(count, offset)]
    results = core.send_bulk(
        [{"to": to, "body": "reliability run", **fields} for to in numbers(count, offset)]
    )
    ids = [r["id"] for r in results if "id" in r]
    assert len(ids) == count, [r for r in results if "error" in r][:3]
    return ids


class Enqueuing:
    """Messages enqueued by a thread of their own while the test goes on: through send_bulk, or
    through send_sms one at a time as web apps do, each with an idempotency key so that a send
    refused while Redis is out of reach is tried again (as a web app would) without a second
    message."""

    def __init__(self, core: Dispatcher, count: int, *, offset: int = 0, path: str) -> None:
        self.ids: list[str] = []
        self._thread = threading.Thread(
            target=self._run, args=(core, count, offset, path), daemon=True
        )
        self._thread.start()

    def _run(self, core: Dispatcher, count: int, offset: int, path: str) -> None:
        if path == "send_bulk":
            self.ids.extend(enqueue_all(core, count, offset=offset))
            return
        for index, to in enumerate(numbers(count, offset)):
            while True:
                try:
                    message_id = core.send_sms(
                        to, "reliability run", idempotency_key=f"run-{offset + index}"
                    )
                except EnqueueError:
                    time.sleep(0.1)
                else:
                    self.ids.append(message_id)
                    break

    def so_far(self) -> list[str]:
        return list(self.ids)

    def done(self, timeout_s: float = 120) -> list[str]:
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), f"enqueued {len(self.ids)} in {timeout_s} s"
        return list(self.ids)


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


def sent_twice(client: redis.Redis, simulator: RunningSimulator, ids: list[str]) -> list[str]:
    """The messages the simulator got twice; fails if one never reached it, or if one that
    went twice is not flagged possible_duplicate (showing its record)."""
    sends = simulator.state.sends_by_reference
    assert all(sends[message_id] >= 1 for message_id in ids)
    twice = [message_id for message_id in ids if sends[message_id] > 1]
    flagged = dict(zip(ids, possible_duplicates(client, ids), strict=True))
    unflagged = [m for m in twice if not flagged[m]]
    assert not unflagged, [client.hgetall(message_key(m)) for m in unflagged[:2]]
    return twice


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


@pytest.mark.parametrize(
    ("path", "search"),
    [("send_bulk", "answered"), ("send_sms", "answered"), ("send_bulk", "failing")],
)
def test_worker_killed_with_5000_in_flight(
    *,
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
    path: str,
    search: str,
) -> None:
    """kill -9 a worker mid-run; a new worker finishes: 0 lost. Each message the dead worker was
    sending is looked for at Sinch by our reference first: none goes out twice. With Sinch's
    search failing, only sends that were in flight at the kill go out twice, each flagged
    possible_duplicate."""
    if search == "failing":
        simulator.state.fail_lookups(503, provider="sinch")
    first = worker_factory(FAST_RECOVERY, "--concurrency", "16")
    simulator.state.latency_ms = 5
    enqueuing = Enqueuing(dispatcher, 5000, path=path)
    wait_for(
        lambda: states(redis_client, enqueuing.so_far()).count("accepted") >= 1000, timeout_s=60
    )
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    at_kill = Counter(states(redis_client, enqueuing.so_far()))
    in_flight_at_kill = at_kill["sending"]
    killed_at = time.monotonic()

    worker_factory(FAST_RECOVERY, "--concurrency", "16")
    ids = enqueuing.done()
    final = all_final(redis_client, ids, timeout_s=120)
    recovered_s = time.monotonic() - killed_at

    assert final["accepted"] == len(ids), final  # lost: 0
    twice = sent_twice(redis_client, simulator, ids)
    sends = simulator.state.sends_by_reference
    assert all(sends[message_id] == 2 for message_id in twice)
    assert len(twice) <= in_flight_at_kill
    asked = simulator.state.lookups["sinch"]
    if search == "answered":
        assert twice == []
        assert asked >= in_flight_at_kill  # each message the dead worker held was asked for
    print(
        f"\nreliability: worker killed ({path}, Sinch's search {search}): 5000 messages, killed "
        f"at {at_kill['accepted']} accepted with {in_flight_at_kill} sending; lost 0; asked "
        f"Sinch for {asked}; sent twice {len(twice)} (all flagged); all final "
        f"{recovered_s:.1f} s after the kill"
    )


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A Redis of this test's own, to restart."""
    server = EmbeddedRedis(tmp_path / "own-redis")
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("path", PATHS)
def test_redis_restarted_mid_run(
    worker_factory: WorkerFactory,
    settings: Settings,
    simulator: RunningSimulator,
    own_redis: EmbeddedRedis,
    path: str,
) -> None:
    """Redis (AOF on) shut down and started again under a running worker: 0 lost, and the same
    worker, not restarted, consumes the jobs enqueued after the restart."""
    env = {**FAST_RECOVERY, "SMSD_REDIS_URL": own_redis.url}
    worker = worker_factory(env)
    core = Dispatcher(settings, redis_url=own_redis.url)
    client = redis.Redis.from_url(own_redis.url, decode_responses=True)
    simulator.state.latency_ms = 50  # many sends under way when Redis goes
    enqueuing = Enqueuing(core, 2000, path=path)
    wait_for(lambda: states(client, enqueuing.so_far()).count("accepted") >= 300, timeout_s=60)

    own_redis.stop()  # SHUTDOWN: the AOF is flushed, every client is cut off
    time.sleep(2)
    own_redis.start()
    restarted_at = time.monotonic()
    before = enqueuing.done()
    after = enqueue_all(core, 500, offset=5000, path=path)
    final = all_final(client, before + after, timeout_s=90)
    recovered_s = time.monotonic() - restarted_at

    assert worker.process.poll() is None
    assert final["accepted"] == len(before) + len(after), final
    twice = sent_twice(client, simulator, before + after)
    sends = simulator.state.sends_by_reference
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
        f"\nreliability: Redis restarted ({path}): 2000 + 500 messages, restart at >= 300 "
        f"accepted; lost 0; sent twice {len(twice)} (all flagged); jobs requeued {requeued}, "
        f"lost jobs given a new one {lost_jobs}; all final {recovered_s:.1f} s after the restart, "
        f"same worker"
    )
    client.close()
    core.close()


@pytest.mark.parametrize("path", PATHS)
def test_worker_killed_all_final_within_60_s_at_default_settings(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
    path: str,
) -> None:
    """kill -9 a worker that holds sends in flight and jobs it reserved and had not started
    (with the shipped recovery settings: a 300 s visibility timeout, a 30 s claim deadline); a
    new worker makes every message final within 60 s of the kill, 0 lost, a message sent twice
    only if it was in flight at the kill (flagged)."""
    # Room for 20 sends at once and 1.5 s a send: the first worker's jobs wait for room with
    # their messages, or the rest of their ready list, still to take.
    first = worker_factory({"SMSD_WORKER__MAX_IN_FLIGHT": "20"}, "--concurrency", "2")
    simulator.state.latency_ms = 1500
    ids = enqueue_all(dispatcher, 400, path=path)
    wait_for(lambda: states(redis_client, ids).count("sending") >= 20, timeout_s=30)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    killed_at = time.monotonic()
    at_kill = Counter(states(redis_client, ids))
    reserved = redis_client.hlen("unacked")
    simulator.state.latency_ms = 5

    worker_factory()
    final = all_final(redis_client, ids, timeout_s=75)
    recovered_s = time.monotonic() - killed_at

    assert final["accepted"] == len(ids), final
    assert reserved >= 1  # the dead worker held jobs it had taken from the queue
    twice = sent_twice(redis_client, simulator, ids)
    assert len(twice) <= at_kill["sending"]
    assert recovered_s <= 60, recovered_s
    print(
        f"\nreliability: worker killed at default settings ({path}): 400 messages, killed with "
        f"{at_kill['sending']} sending, {at_kill['queued']} queued, {reserved} jobs reserved; "
        f"lost 0; sent twice {len(twice)} (all flagged); all final {recovered_s:.1f} s after "
        f"the kill"
    )


def test_worker_killed_with_a_ready_list_half_taken(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    redis_client: redis.Redis,
) -> None:
    """kill -9 a worker while a ready list is half taken: the messages its jobs took from the
    list are claimed and in flight, the rest still in the list, and the list's next job is held
    by the dead worker. Nothing is lost: the taken ones come back through their send lease
    (flagged, sent at most twice), the rest through the claim deadline, sent once."""
    first = worker_factory({"SMSD_WORKER__MAX_IN_FLIGHT": "10"}, "--concurrency", "2")
    simulator.state.latency_ms = 1500
    ids = enqueue_all(dispatcher, 200, path="send_sms")
    ready = ready_list_key("sms.normal")
    wait_for(lambda: states(redis_client, ids).count("sending") >= 10, timeout_s=30)
    first.process.send_signal(signal.SIGKILL)
    first.process.wait(timeout=10)
    killed_at = time.monotonic()
    taken = [m for m, s in zip(ids, states(redis_client, ids), strict=True) if s == "sending"]
    left = [str(m) for m in redis_client.lrange(ready, 0, -1)]
    assert taken
    assert left
    assert redis_client.llen("sms.normal") == 0  # no job for the list but the dead worker's
    simulator.state.latency_ms = 5

    worker_factory({"SMSD_WORKER__CLAIM_DEADLINE_S": "5"})
    final = all_final(redis_client, ids, timeout_s=60)
    recovered_s = time.monotonic() - killed_at

    assert final["accepted"] == len(ids), final
    twice = sent_twice(redis_client, simulator, ids)
    sends = simulator.state.sends_by_reference
    assert all(sends[m] == 1 for m in left)
    assert all(sends[m] <= 2 for m in taken)
    assert redis_client.llen(ready) == 0
    print(
        f"\nreliability: worker killed with a ready list half taken: 200 messages, "
        f"{len(taken)} taken and in flight, {len(left)} still in the list; lost 0; "
        f"sent twice {len(twice)} (all flagged); all final "
        f"{recovered_s:.1f} s after the kill"
    )


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
