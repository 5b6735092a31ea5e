"""kombu's Redis channel keeps one client per connection pool once the worker's app is built."""

from __future__ import annotations

import threading

import redis
from kombu.connection import Connection

from dispatcher.devstack.embedded_redis import EmbeddedRedis
from dispatcher.queueing.broker_clients import reuse_broker_clients


def test_a_channel_reuses_its_client_until_the_pool_is_replaced(
    redis_server: EmbeddedRedis,
) -> None:
    reuse_broker_clients()
    reuse_broker_clients()  # installing twice wraps once
    with Connection(redis_server.url) as connection:  # type: ignore[no-untyped-call]
        channel = connection.default_channel
        first = channel._create_client()
        assert channel._create_client() is first
        assert first.ping()

        seen: list[object] = []
        threads = [
            threading.Thread(target=lambda: seen.append(channel._create_client())) for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(client is first for client in seen)

        channel._disconnect_pools()  # what kombu does when the connection drops
        second = channel._create_client()
        assert second is not first
        assert second.connection_pool is channel.pool
        assert second.ping()

        # The consumer's asynchronous pool keeps kombu's own behaviour.
        assert channel._create_client(asynchronous=True) is not second


def test_events_and_acks_through_a_reused_client_reach_redis(redis_server: EmbeddedRedis) -> None:
    """A message published and acknowledged with one client per pool leaves the queue and the
    unacknowledged set empty."""
    reuse_broker_clients()
    probe = redis.Redis.from_url(redis_server.url)
    probe.flushall()
    with Connection(redis_server.url) as connection:  # type: ignore[no-untyped-call]
        queue = connection.SimpleQueue("smsd-test-reuse")
        for n in range(3):
            queue.put({"n": n})
        got = []
        for _ in range(3):
            message = queue.get(timeout=5)
            got.append(message.payload["n"])
            message.ack()
        queue.close()
    assert got == [0, 1, 2]
    assert probe.llen("smsd-test-reuse") == 0
    assert probe.hlen("unacked") == 0
    probe.close()
