"""The durable delay queue and its mover, which runs in every worker with no leader.

A message waiting for its next attempt is an id in a Redis sorted set scored by its due time
(``smsd:delay``), not a Celery countdown held in a worker's memory, and not an ETA task that the
Redis visibility timeout could run twice. A million waiting messages cost Redis a sorted-set entry
each and cost no worker anything.

Every worker runs a :class:`DelayScheduler` thread. Each tick runs one Lua script that, atomically,
takes the due ids out of the set and pushes a Celery job for each onto its priority's queue, so
however many workers tick at once, each due message is moved exactly once. The job is the exact
payload kombu's Redis transport would push (built once from Celery's own ``create_task_message``,
with the message id, task id and queue filled in by the script).

Every ``worker.heartbeat_s`` a tick also pushes a canary job onto the worker's own canary queue
(:mod:`dispatcher.store.heartbeats`): running it proves the worker still consumes.

The same tick recovers messages whose sender died mid-send: ``smsd:pending`` holds each message
being sent scored by its lease's end (negated, to tell it from one waiting for a sender); one still
there after that, still ``sending`` and with no lease, gets a new job at once instead of waiting
for Celery's visibility timeout. The send lease and the state check make any duplicate job
harmless, and the next attempt is flagged ``possible_duplicate``.

Every ``celery.unacked_restore_interval_s`` a tick also hands out again the Celery jobs that a
worker took and never acknowledged (it died, or its broker connection dropped) once they are older
than the visibility timeout. kombu runs the same sweep from the consumer's event loop, but that
timer has been seen not to come back after the consumer reconnects to a restarted Redis; run from
here it does not depend on the consumer.

On the same cadence it gives a new job to a message that lost its own: one still waiting for a
sender (``queued``, a due ``retry_scheduled``, or ``sending`` with no lease) a visibility timeout
after its job was published, while its priority queue is empty (so its job is neither waiting
there nor, any more, unacknowledged in a worker). kombu's Redis transport pops a job and records
it as unacknowledged in two steps, so a connection cut between them drops the job; the note in
``smsd:pending`` (made with every job: at enqueue, by the delay-queue mover and by the recovery of
dead sends, and turned into a send in flight by the claim) is what brings the message back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery

from dispatcher.logs import get_logger
from dispatcher.queueing.job_payloads import FILL_JOB_LUA, fill_job, job_template
from dispatcher.sending.background_thread import BackgroundThread
from dispatcher.store.redis_keys import (
    DELAY_QUEUE,
    MESSAGE_PREFIX,
    PENDING,
)

__all__ = ["Canary", "DelayScheduler", "MoveResult", "job_template", "restore_abandoned_jobs"]


# KEYS: delay queue, pending index. ARGV: now ms, batch size, job template, message key prefix.
# Every job it publishes is noted in the pending index, so a job lost on its way to a worker is
# found by the orphan sweep. A send is due for recovery when its lease ended: its score, the
# lease end negated, is at least -now.
_MOVE = (
    FILL_JOB_LUA
    + """
local function publish(id, priority, task_id)
  local queue = 'sms.' .. priority
  redis.call('LPUSH', queue, fill_job(ARGV[3], task_id, id, queue))
  redis.call('ZADD', KEYS[2], ARGV[1], id)
end
local moved, recovered = 0, 0
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(due) do
  redis.call('ZREM', KEYS[1], id)
  local f = redis.call('HMGET', ARGV[4] .. id, 'state', 'priority', 'retry_seq')
  if f[1] == 'retry_scheduled' and f[2] then
    publish(id, f[2], id .. '.r' .. (f[3] or '0'))
    moved = moved + 1
  end
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], -tonumber(ARGV[1]), '(0', 'LIMIT', 0, ARGV[2])
for _, id in ipairs(stale) do
  local f = redis.call('HMGET', ARGV[4] .. id, 'state', 'priority', 'lease_until_ms')
  local lease_until = tonumber(f[3] or '0')
  if f[1] ~= 'sending' or not f[2] then
    redis.call('ZREM', KEYS[2], id)
  elseif lease_until > tonumber(ARGV[1]) then
    redis.call('ZADD', KEYS[2], -lease_until, id)  -- claimed again since: look when that ends
  else
    publish(id, f[2], id .. '.s' .. ARGV[1])  -- back to waiting for a sender
    recovered = recovered + 1
  end
end
return {moved, recovered}
"""
)


# KEYS: pending index. ARGV: published before (ms), batch size, job template, message key prefix,
# now ms. Only the entries waiting for a sender (scored by when their job was published, so
# positive) are looked at. A message is still to be sent by the job it was given when it is
# queued, due for a retry, or left sending with no lease by a dead sender.
_REQUEUE_ORPHANS = (
    FILL_JOB_LUA
    + """
local requeued = 0
local waiting = {queued = true, retry_scheduled = true, sending = true}
-- Whether each priority queue was empty before this sweep pushed anything onto it.
local empty = {}
local function was_empty(queue)
  if empty[queue] == nil then empty[queue] = redis.call('LLEN', queue) == 0 end
  return empty[queue]
end
local old = redis.call('ZRANGEBYSCORE', KEYS[1], '(0', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(old) do
  local f = redis.call('HMGET', ARGV[4] .. id, 'state', 'priority', 'lease_until_ms')
  local lease_until = tonumber(f[3] or '0')
  if not waiting[f[1]] or not f[2] then
    redis.call('ZREM', KEYS[1], id)
  elseif f[1] == 'sending' and lease_until > tonumber(ARGV[5]) then
    redis.call('ZADD', KEYS[1], -lease_until, id)  -- being sent: watched as a send in flight
  elseif was_empty('sms.' .. f[2]) then
    local queue = 'sms.' .. f[2]
    redis.call('LPUSH', queue, fill_job(ARGV[3], id .. '.q' .. ARGV[5], id, queue))
    redis.call('ZADD', KEYS[1], ARGV[5], id)
    requeued = requeued + 1
  end
end
return requeued
"""
)


@dataclass(frozen=True, slots=True)
class Canary:
    """This worker's canary: its name, its own queue, the job to push there, how often."""

    worker_name: str
    queue: str
    template: str
    every_ms: int


def restore_abandoned_jobs(app: Celery) -> None:
    """Put back on their queues the jobs taken and not acknowledged within the visibility timeout
    (kombu's own ``restore_visible``, under its mutex, so workers doing it at once are safe)."""
    with app.connection_for_write() as connection:
        connection.default_channel.qos.restore_visible(num=1_000, interval=1)


@dataclass(frozen=True, slots=True)
class MoveResult:
    moved: int  # due retries published
    recovered: int  # messages of dead senders published again


def _now_ms() -> int:
    return int(time.time() * 1000)


class DelayScheduler:
    """Moves due messages from the delay queue to their Celery queues, in a background thread."""

    def __init__(
        self,
        client: redis.Redis,
        template: str,
        *,
        poll_interval_s: float,
        batch_size: int,
        clock_ms: Callable[[], int] = _now_ms,
        canary: Canary | None = None,
        restore_jobs: Callable[[], None] | None = None,
        restore_every_ms: int = 10_000,
        orphan_after_ms: int = 300_000,
    ) -> None:
        self._redis = client
        self._canary = canary
        self._last_canary_ms = 0
        self._restore_jobs = restore_jobs
        self._restore_every_ms = restore_every_ms
        self._last_restore_ms = 0
        self._orphan_after_ms = orphan_after_ms
        self._requeue_orphans = client.register_script(_REQUEUE_ORPHANS)
        self._move = client.register_script(_MOVE)
        self._template = template
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._clock_ms = clock_ms
        self._thread = BackgroundThread("sms-scheduler", self._loop, join_timeout_s=10)
        self._stop = self._thread.stopping

    def run_once(self) -> MoveResult:
        """One atomic move of up to a batch of due messages."""
        moved, recovered = self._move(
            keys=[DELAY_QUEUE, PENDING],
            args=[
                self._clock_ms(),
                self._batch_size,
                self._template,
                MESSAGE_PREFIX,
            ],
        )
        return MoveResult(int(moved), int(recovered))

    def _push_canary(self) -> None:
        """Every ``every_ms``: a canary job onto this worker's own queue (see heartbeat)."""
        canary = self._canary
        now_ms = self._clock_ms()
        if canary is None or now_ms - self._last_canary_ms < canary.every_ms:
            return
        self._last_canary_ms = now_ms
        job = fill_job(
            canary.template,
            task_id=f"canary-{uuid.uuid4()}",
            argument=canary.worker_name,
            queue=canary.queue,
        )
        self._redis.lpush(canary.queue, job)

    def requeue_orphans(self) -> int:
        """A new job for each message still waiting for a sender a visibility timeout after its
        job was published, while its priority queue is empty; returns how many got one."""
        now_ms = self._clock_ms()
        return int(
            self._requeue_orphans(
                keys=[PENDING],
                args=[
                    now_ms - self._orphan_after_ms,
                    self._batch_size,
                    self._template,
                    MESSAGE_PREFIX,
                    now_ms,
                ],
            )
        )

    def _restore_jobs_when_due(self, log: Any) -> None:
        now_ms = self._clock_ms()
        if self._restore_jobs is None or now_ms - self._last_restore_ms < self._restore_every_ms:
            return
        self._last_restore_ms = now_ms
        try:
            self._restore_jobs()
            requeued = self.requeue_orphans()
        except Exception as exc:  # a broker hiccup must not end the mover thread
            log.warning("scheduler.restore_failed", error=type(exc).__name__)
            return
        if requeued:
            log.warning("scheduler.requeued_lost_jobs", count=requeued)

    def _loop(self) -> None:
        log = get_logger(component="scheduler")
        failures = 0
        while not self._stop.is_set():
            try:
                result = self.run_once()
            except redis.RedisError as exc:
                failures += 1
                log.warning("scheduler.redis_error", error=type(exc).__name__, failures=failures)
                self._stop.wait(min(self._poll_interval_s * 2**failures, 5.0))
                continue
            failures = 0
            self._push_canary()
            self._restore_jobs_when_due(log)
            if result.recovered:
                log.warning("scheduler.recovered_dead_sends", count=result.recovered)
            if result.moved + result.recovered >= self._batch_size:
                continue  # more may be due right now
            self._stop.wait(self._poll_interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()
