"""The Redis primary lost under a running worker, with a replica and three Sentinels on loopback:
the replica is promoted, the same worker resumes on it, and nothing acknowledged is lost (each
send waited for the replica: ``redis.wait_replicas`` = 1).

Each scenario prints one summary line (``reliability: ...``) that the README's reliability table
quotes; run with ``-s`` to see them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from dispatcher.config.settings import Settings
from dispatcher.devstack.sentinel_cluster import MASTER_NAME, SentinelCluster
from dispatcher.errors import EnqueueError
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.connection import connect_redis
from tests.conftest import RunningSimulator, WorkerFactory, wait_for
from tests.integration.reliability.test_reliability import (
    FAST_RECOVERY,
    Enqueuing,
    all_final,
    enqueue_all,
    numbers,
    sent_twice,
    states,
)


def sentinel_settings(settings: Settings, url: str) -> Settings:
    """The test's settings on the cluster, each send waiting for one replica."""
    return settings.model_copy(
        update={
            "redis_url": url,
            "sentinel_master": MASTER_NAME,
            "redis": settings.redis.model_copy(update={"wait_replicas": 1}),
        }
    )


def sentinel_env(url: str) -> dict[str, str]:
    return {
        **FAST_RECOVERY,
        "SMSD_REDIS_URL": url,
        "SMSD_SENTINEL_MASTER": MASTER_NAME,
        "SMSD_REDIS__WAIT_REPLICAS": "1",
    }


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    # Two replicas: once one is promoted, the other replicates it, so sends that wait for a
    # replica go on.
    with SentinelCluster(
        tmp_path / "sentinel", replicas=2, down_after_ms=1000, failover_timeout_ms=3000
    ) as c:
        yield c


def test_primary_killed_mid_run_the_replica_takes_over(
    worker_factory: WorkerFactory,
    settings: Settings,
    simulator: RunningSimulator,
    cluster: SentinelCluster,
) -> None:
    """kill -9 of the primary with 2,000 messages going through send_sms: lost 0, every message
    final, sent twice only what was in flight (flagged), the same worker on within 10 s of the
    promotion."""
    worker = worker_factory(sentinel_env(cluster.url))
    mine = sentinel_settings(settings, cluster.url)
    core = Dispatcher(mine, redis_url=cluster.url)
    client = connect_redis(mine.redis_address(cluster.url))
    simulator.state.latency_ms = 50  # many sends under way when the primary goes
    enqueuing = Enqueuing(core, 2000, path="send_sms")
    wait_for(lambda: states(client, enqueuing.so_far()).count("accepted") >= 300, timeout_s=60)

    killed_at = time.monotonic()
    cluster.primary.kill()
    promoted_at, _ = cluster.wait_for_failover(cluster.primary.port, timeout_s=30)
    accepted_then = simulator.state.total_sends
    wait_for(lambda: simulator.state.total_sends > accepted_then + 50, timeout_s=30)
    resumed_s = time.monotonic() - promoted_at
    before = enqueuing.done(timeout_s=180)
    after = enqueue_all(core, 500, offset=5000, path="send_sms")
    final = all_final(client, before + after, timeout_s=120)

    assert worker.process.poll() is None  # the same worker, not restarted
    assert final["accepted"] == len(before) + len(after), final
    twice = sent_twice(client, simulator, before + after)
    assert resumed_s < 10, resumed_s
    log = worker.log()
    assert "Unrecoverable error" not in log
    print(
        f"\nreliability: primary killed (send_sms, Sentinel): 2000 + 500 messages, kill at >= 300 "
        f"accepted; promoted {promoted_at - killed_at:.1f} s after the kill; lost 0; sent twice "
        f"{len(twice)} (all flagged); sends again {resumed_s:.1f} s after the promotion, same "
        "worker"
    )
    client.close()
    core.close()


def test_one_replica_promoted_sends_refused_until_the_old_primary_is_back(
    worker_factory: WorkerFactory,
    settings: Settings,
    simulator: RunningSimulator,
    tmp_path: Path,
) -> None:
    """With one replica, once it is promoted no replica is left to confirm a write: send_sms
    raises EnqueueError ("not replicated") and records nothing a caller could lose. The old
    primary, started again, is made a replica of the new master by the Sentinels, and the same
    sends (same idempotency keys) are then acknowledged and delivered."""
    with SentinelCluster(
        tmp_path / "sentinel", replicas=1, down_after_ms=1000, failover_timeout_ms=3000
    ) as cluster:
        worker = worker_factory(sentinel_env(cluster.url))
        mine = sentinel_settings(settings, cluster.url)
        core = Dispatcher(mine, redis_url=cluster.url)
        client = connect_redis(mine.redis_address(cluster.url))
        before = enqueue_all(core, 20, path="send_sms")

        old_port = cluster.primary.port
        cluster.primary.kill()
        cluster.wait_for_failover(old_port, timeout_s=30)
        refused: list[str] = []
        deadline = time.monotonic() + 5
        n = 0
        while time.monotonic() < deadline:
            try:
                core.send_sms(_number(n), "one replica", idempotency_key=f"k{n}")
            except EnqueueError as exc:
                refused.append(str(exc))
                n += 1
            else:
                pytest.fail(f"send {n} acknowledged with no replica to confirm it")
        assert refused, "no send was tried"
        assert all("not replicated" in r or "unavailable" in r for r in refused), refused[:3]
        assert any("not replicated" in r for r in refused), refused[:3]

        cluster.primary.start()  # same port and data: the Sentinels make it a replica
        again = cast(list[str], wait_for(lambda: _send_again(core, n), timeout_s=60))
        info = redis.Redis.from_url(cluster.primary.url, socket_timeout=2).info("replication")
        assert info["role"] == "slave", info["role"]
        final = all_final(client, [*before, *again], timeout_s=60)
        assert final["accepted"] == len(before) + n, final
        assert worker.process.poll() is None
        print(
            f"\nreliability: one replica promoted (send_sms, Sentinel): {len(refused)} sends "
            f"refused in 5 s as not replicated; the old primary started again as a replica; "
            f"the same {n} sends then acknowledged under their keys and delivered; lost 0"
        )
        client.close()
        core.close()


def _number(n: int) -> str:
    return numbers(1, offset=7000 + n)[0]


def _send_again(core: Dispatcher, count: int) -> list[str] | None:
    """The refused sends tried again under their keys; None while any is still refused."""
    try:
        return [
            core.send_sms(_number(n), "one replica", idempotency_key=f"k{n}") for n in range(count)
        ]
    except EnqueueError:
        return None
