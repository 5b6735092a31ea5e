"""The delay-queue mover on a real Redis: exactly once under concurrency, dead senders recovered."""

from __future__ import annotations

import json
import threading
import time

import redis

from dispatcher.intake.enqueue import Dispatcher
from dispatcher.queueing.job_payloads import job_template
from dispatcher.sending.delay_queue_mover import DelayScheduler
from dispatcher.store.delay_queue import DelayQueue
from dispatcher.store.redis_keys import DELAY_QUEUE, PENDING, message_key
from tests.conftest import end_lease


def now_ms() -> int:
    return int(time.time() * 1000)


def scheduler(dispatcher: Dispatcher, client: redis.Redis, batch: int = 50) -> DelayScheduler:
    return DelayScheduler(
        DelayQueue(client, job_template(dispatcher.celery_app)),
        poll_interval_s=0.01,
        batch_size=batch,
    )


def park_for_retry(client: redis.Redis, message_id: str, due_ms: int) -> None:
    client.hset(message_key(message_id), mapping={"state": "retry_scheduled", "retry_seq": "1"})
    client.zadd(DELAY_QUEUE, {message_id: due_ms})


def test_concurrent_movers_move_each_due_message_once(
    dispatcher: Dispatcher, redis_client: redis.Redis
) -> None:
    """Four movers racing over 1,000 due messages publish exactly 1,000 jobs, one per message."""
    ids = [dispatcher.send_sms("+14155552671", f"m{i}") for i in range(1000)]
    redis_client.delete("sms.normal")  # forget the first jobs: only the movers' count
    for message_id in ids:
        park_for_retry(redis_client, message_id, now_ms() - 1)
    movers = [scheduler(dispatcher, redis_client) for _ in range(4)]
    threads = [
        threading.Thread(target=lambda m=m: [m.run_once() for _ in range(40)]) for m in movers
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    jobs = [json.loads(raw) for raw in redis_client.lrange("sms.normal", 0, -1)]
    moved = [json.loads(job["body"])[0][0] for job in jobs]
    assert sorted(moved) == sorted(ids)
    assert redis_client.zcard(DELAY_QUEUE) == 0
    assert len({job["properties"]["delivery_tag"] for job in jobs}) == 1000


def test_not_yet_due_stays(dispatcher: Dispatcher, redis_client: redis.Redis) -> None:
    """A message due later is left in the delay queue."""
    message_id = dispatcher.send_sms("+14155552671", "later")
    redis_client.delete("sms.normal")
    park_for_retry(redis_client, message_id, now_ms() + 60_000)
    assert scheduler(dispatcher, redis_client).run_once().moved == 0
    assert redis_client.zscore(DELAY_QUEUE, message_id) is not None


def test_moved_job_goes_to_its_priority_queue(
    dispatcher: Dispatcher, redis_client: redis.Redis
) -> None:
    """A high-priority retry comes back on sms.high, as Celery's own payload would."""
    message_id = dispatcher.send_sms("+14155552671", "otp", priority="high")
    published = json.loads(str(redis_client.lpop("sms.high")))
    park_for_retry(redis_client, message_id, now_ms() - 1)
    scheduler(dispatcher, redis_client).run_once()
    moved = json.loads(str(redis_client.lpop("sms.high")))
    assert moved["headers"]["task"] == published["headers"]["task"] == "sms.send"
    assert set(moved) == set(published)
    assert set(moved["headers"]) == set(published["headers"])
    assert moved["properties"]["delivery_info"]["routing_key"] == "sms.high"


def test_dead_sender_is_recovered(dispatcher: Dispatcher, redis_client: redis.Redis) -> None:
    """A message left `sending` past its lease gets a new job; one with a live lease does not."""
    dead = dispatcher.send_sms("+14155552671", "dead sender")
    alive = dispatcher.send_sms("+14155552671", "live sender")
    redis_client.delete("sms.normal")
    for message_id in (dead, alive):
        dispatcher.store.claim(message_id, lease_ms=60_000, now_ms=now_ms())
        redis_client.zadd(PENDING, {message_id: -(now_ms() - 1)})  # its lease window is over
    end_lease(redis_client, dead)
    result = scheduler(dispatcher, redis_client).run_once()
    assert result.recovered == 1
    jobs = [json.loads(raw) for raw in redis_client.lrange("sms.normal", 0, -1)]
    assert [json.loads(job["body"])[0][0] for job in jobs] == [dead]
    # Checked again when its lease ends; the dead sender's message waits for a sender again.
    assert -int(redis_client.zscore(PENDING, alive) or 0) > now_ms() + 50_000
    assert 0 < (redis_client.zscore(PENDING, dead) or 0) <= now_ms()


def test_records_gone_are_dropped(dispatcher: Dispatcher, redis_client: redis.Redis) -> None:
    """An id whose record expired is removed from the delay queue without a job."""
    redis_client.zadd(DELAY_QUEUE, {"01GONE": now_ms() - 1})
    assert scheduler(dispatcher, redis_client).run_once().moved == 0
    assert redis_client.zcard(DELAY_QUEUE) == 0
    assert redis_client.llen("sms.normal") == 0


def test_lost_jobs_get_new_ones(dispatcher: Dispatcher, redis_client: redis.Redis) -> None:
    """A message whose job vanished on its way to a worker (queued, or a retry the mover
    published) gets a new job once its queue is empty; one a sender holds, or one still waiting
    its turn behind other jobs, does not."""
    lost_new = dispatcher.send_sms("+14155552671", "lost at enqueue")
    lost_retry = dispatcher.send_sms("+14155552671", "lost after a retry")
    held = dispatcher.send_sms("+14155552671", "being sent")
    park_for_retry(redis_client, lost_retry, now_ms() - 1)
    scheduler(dispatcher, redis_client).run_once()  # publishes the retry's job
    dispatcher.store.claim(held, lease_ms=60_000, now_ms=now_ms())
    later = now_ms() + 301_000
    sweeper = DelayScheduler(
        DelayQueue(redis_client, job_template(dispatcher.celery_app)),
        poll_interval_s=0.01,
        batch_size=50,
        clock_ms=lambda: later,
        orphan_after_ms=300_000,
    )
    assert sweeper.requeue_orphans() == 0  # their jobs still wait in sms.normal
    redis_client.delete("sms.normal")  # ... and now they are gone
    assert sweeper.requeue_orphans() == 2
    jobs = [json.loads(raw) for raw in redis_client.lrange("sms.normal", 0, -1)]
    assert sorted(json.loads(job["body"])[0][0] for job in jobs) == sorted([lost_new, lost_retry])
    assert sweeper.requeue_orphans() == 0  # given a job just now: not again until it is old
    dispatcher.store.claim(lost_new, lease_ms=60_000, now_ms=now_ms())
    # The claim turns the note into a send in flight, scored by its lease end negated.
    for claimed in (lost_new, held):
        assert (redis_client.zscore(PENDING, claimed) or 0) < -now_ms()
