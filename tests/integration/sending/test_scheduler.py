"""The delay-queue mover on a real Redis: exactly once under concurrency, dead senders recovered."""

from __future__ import annotations

import json
import threading
import time

import redis

from dispatcher.core.names import SEND_READY_TASK
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.queueing.job_payloads import job_template
from dispatcher.sending.delay_queue_mover import DelayScheduler
from dispatcher.store.delay_queue import DelayQueue
from dispatcher.store.redis_keys import DELAY_QUEUE, PENDING, message_key, ready_list_key
from tests.conftest import end_lease


def now_ms() -> int:
    return int(time.time() * 1000)


def ready_template(dispatcher: Dispatcher) -> str:
    return job_template(dispatcher.celery_app, SEND_READY_TASK)


def scheduler(
    dispatcher: Dispatcher,
    client: redis.Redis,
    batch: int = 50,
    *,
    at_ms: int | None = None,
    orphan_after_ms: int = 300_000,
) -> DelayScheduler:
    """A mover on ``client``; with ``at_ms``, its clock stands still at that time."""
    return DelayScheduler(
        DelayQueue(client, job_template(dispatcher.celery_app), ready_template(dispatcher)),
        poll_interval_s=0.01,
        batch_size=batch,
        clock_ms=now_ms if at_ms is None else lambda: at_ms,
        orphan_after_ms=orphan_after_ms,
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
    """A high-priority retry comes back on sms.high, as Celery's own payload would (the same
    parts as the ready list's job that enqueue published)."""
    message_id = dispatcher.send_sms("+14155552671", "otp", priority="high")
    published = json.loads(str(redis_client.lpop("sms.high")))
    assert published["headers"]["task"] == "sms.send_ready"
    park_for_retry(redis_client, message_id, now_ms() - 1)
    scheduler(dispatcher, redis_client).run_once()
    moved = json.loads(str(redis_client.lpop("sms.high")))
    assert moved["headers"]["task"] == "sms.send"
    assert json.loads(moved["body"])[0] == [message_id]
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
    """Once its queue is empty: a ready list whose job vanished on its way to a worker gets one
    new job (for the list, not one a message), and a retry whose job vanished gets its own; a
    message a sender holds, or one still waiting its turn behind other jobs, gets none."""
    lost_new = [dispatcher.send_sms("+14155552671", f"lost at enqueue {i}") for i in range(3)]
    lost_retry = dispatcher.send_sms("+14155552671", "lost after a retry")
    held = dispatcher.send_sms("+14155552671", "being sent")
    ready = ready_list_key("sms.normal")
    for taken in (lost_retry, held):  # taken from the list by a job before its job was lost
        redis_client.lrem(ready, 1, taken)
    park_for_retry(redis_client, lost_retry, now_ms() - 1)
    scheduler(dispatcher, redis_client).run_once()  # publishes the retry's job
    dispatcher.store.claim(held, lease_ms=60_000, now_ms=now_ms())
    later = now_ms() + 31_000
    sweeper = scheduler(dispatcher, redis_client, at_ms=later, orphan_after_ms=30_000)
    assert sweeper.requeue_orphans() == 0  # their jobs still wait in sms.normal
    redis_client.delete("sms.normal")  # ... and now they are gone
    assert sweeper.requeue_orphans() == 2
    jobs = [json.loads(raw) for raw in redis_client.lrange("sms.normal", 0, -1)]
    given = sorted((job["headers"]["task"], json.loads(job["body"])[0][0]) for job in jobs)
    assert given == [("sms.send", lost_retry), ("sms.send_ready", "sms.normal")]
    assert sweeper.requeue_orphans() == 0  # given a job just now: not again until it is old
    drained = dispatcher.store.take_ready(
        "sms.normal", count=50, lease_ms=60_000, now_ms=now_ms(), ready_template="-"
    )
    assert [message_id for message_id, _ in drained] == lost_new
    dispatcher.store.claim(lost_retry, lease_ms=60_000, now_ms=now_ms())
    # The claim turns the note into a send in flight, scored by its lease end negated.
    for claimed in (*lost_new, lost_retry, held):
        assert (redis_client.zscore(PENDING, claimed) or 0) < -now_ms()


def test_a_moving_ready_list_is_left_alone(
    dispatcher: Dispatcher, redis_client: redis.Redis
) -> None:
    """Messages long in a ready list that a job took from a moment ago get no job of their own:
    they are taken in their turn (a backlog is not doubled)."""
    waiting = [dispatcher.send_sms("+14155552671", f"backlog {i}") for i in range(60)]
    redis_client.delete("sms.normal")
    later = now_ms() + 31_000
    dispatcher.store.take_ready(
        "sms.normal", count=50, lease_ms=60_000, now_ms=later - 1_000, ready_template="-"
    )
    redis_client.delete("sms.normal")  # the next job of the list is on its way to a worker
    sweeper = scheduler(dispatcher, redis_client, 500, at_ms=later, orphan_after_ms=30_000)
    assert sweeper.requeue_orphans() == 0
    assert redis_client.lrange(ready_list_key("sms.normal"), 0, -1) == waiting[50:]
