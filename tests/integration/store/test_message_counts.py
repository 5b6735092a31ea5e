"""States reached, counted for the metrics: at once, or in the worker and flushed."""

from __future__ import annotations

import time

import pytest
import redis

from dispatcher.errors import StoreError
from dispatcher.store.message_counts import MessageCounts
from dispatcher.store.redis_keys import METRICS
from dispatcher.worker.count_flusher import Flusher


def test_unbuffered_counts_go_to_redis_at_once(redis_client: redis.Redis) -> None:
    counts = MessageCounts(redis_client, buffered=False)
    counts.reached("accepted")
    assert redis_client.hget(METRICS, "messages|accepted") == "1"
    assert counts.flush() == 0


def test_buffered_counts_wait_for_a_flush_and_survive_a_failed_one(
    redis_client: redis.Redis,
) -> None:
    counts = MessageCounts(redis_client, buffered=True)
    for state in ("accepted", "accepted", "failed"):
        counts.reached(state)
    assert redis_client.hget(METRICS, "messages|accepted") is None

    redis_client.set(METRICS, "not a hash")  # HINCRBY on it fails
    with pytest.raises(StoreError) as caught:
        counts.flush()
    assert isinstance(caught.value.__cause__, redis.ResponseError)
    redis_client.delete(METRICS)
    counts.reached("accepted")  # counted while the flush had failed
    assert counts.flush() == 4
    assert redis_client.hget(METRICS, "messages|accepted") == "3"
    assert redis_client.hget(METRICS, "messages|failed") == "1"
    assert counts.flush() == 0


def test_the_flusher_writes_on_its_cadence_and_at_stop(redis_client: redis.Redis) -> None:
    counts = MessageCounts(redis_client, buffered=True)
    flusher = Flusher(0.05, counts.flush)
    flusher.start()
    try:
        counts.reached("accepted")
        deadline = time.monotonic() + 5
        while redis_client.hget(METRICS, "messages|accepted") != "1":
            assert time.monotonic() < deadline, "not flushed within 5 s"
            time.sleep(0.02)
    finally:
        flusher.stop()
    stopped = Flusher(60, counts.flush)  # would not tick during this test
    stopped.start()
    counts.reached("expired")
    stopped.stop()
    assert redis_client.hget(METRICS, "messages|expired") == "1"
