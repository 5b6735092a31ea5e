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

Each tick also refreshes the worker's heartbeat (``smsd:workers``, at most once a second), which
``/readyz`` reads.

The same tick recovers messages whose sender died mid-send: the claim put each message being sent
in ``smsd:inflight`` scored by its lease's end; one still there after that, still ``sending`` and
with no lease, gets a new job at once instead of waiting for Celery's visibility timeout. The send
lease and the state check make any duplicate job harmless, and the next attempt is flagged
``possible_duplicate``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis
from celery import Celery
from kombu import serialization

from dispatcher.celery_app import SEND_TASK
from dispatcher.keys import (
    DELAY_QUEUE,
    IN_FLIGHT,
    LEASE_PREFIX,
    MESSAGE_PREFIX,
    WORKER_HEARTBEATS,
)
from dispatcher.logs import get_logger

__all__ = ["DelayScheduler", "MoveResult", "job_template"]

_MESSAGE_MARK = "SMSDMSGID"
_TASK_MARK = "SMSDTASKID"
_QUEUE_MARK = "SMSDQUEUE"
_BEAT_EVERY_MS = 1000

# KEYS: delay queue, in flight. ARGV: now ms, batch size, job template, message key prefix,
# lease key prefix.
_MOVE = """
local function publish(id, priority, task_id)
  local queue = 'sms.' .. priority
  local job = string.gsub(ARGV[3], 'SMSDTASKID', task_id)
  job = string.gsub(job, 'SMSDMSGID', id)
  job = string.gsub(job, 'SMSDQUEUE', queue)
  redis.call('LPUSH', queue, job)
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
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
for _, id in ipairs(stale) do
  local f = redis.call('HMGET', ARGV[4] .. id, 'state', 'priority')
  if f[1] ~= 'sending' or not f[2] then
    redis.call('ZREM', KEYS[2], id)
  elseif redis.call('EXISTS', ARGV[5] .. id) == 1 then
    redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + 1000, id)
  else
    redis.call('ZREM', KEYS[2], id)
    publish(id, f[2], id .. '.s' .. ARGV[1])
    recovered = recovered + 1
  end
end
return {moved, recovered}
"""


def job_template(app: Celery) -> str:
    """The Redis payload of a send job with markers for the message id, task id and queue.

    It is what ``app.send_task(SEND_TASK, args=[id], queue=queue)`` pushes, with the body left as
    plain JSON (``body_encoding`` utf-8) so the Lua script can fill it in.
    """
    message = app.amqp.create_task_message(
        _TASK_MARK, SEND_TASK, [_MESSAGE_MARK], {}, ignore_result=True
    )
    content_type, content_encoding, body = serialization.dumps(  # type: ignore[no-untyped-call]
        message.body, serializer="json"
    )
    payload = {
        "body": body,
        "content-encoding": content_encoding,
        "content-type": content_type,
        "headers": message.headers,
        "properties": {
            **message.properties,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": _QUEUE_MARK},
            "priority": 0,
            "body_encoding": "utf-8",
            "delivery_tag": _TASK_MARK,
        },
    }
    return json.dumps(payload, separators=(",", ":"))


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
        worker_name: str | None = None,
    ) -> None:
        self._redis = client
        self._worker_name = worker_name
        self._last_beat_ms = 0
        self._move = client.register_script(_MOVE)
        self._template = template
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._clock_ms = clock_ms
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> MoveResult:
        """One atomic move of up to a batch of due messages."""
        moved, recovered = self._move(
            keys=[DELAY_QUEUE, IN_FLIGHT],
            args=[
                self._clock_ms(),
                self._batch_size,
                self._template,
                MESSAGE_PREFIX,
                LEASE_PREFIX,
            ],
        )
        return MoveResult(int(moved), int(recovered))

    def _beat(self) -> None:
        """At most once a second: this worker's heartbeat, for ``/readyz``."""
        now_ms = self._clock_ms()
        if self._worker_name is None or now_ms - self._last_beat_ms < _BEAT_EVERY_MS:
            return
        self._redis.zadd(WORKER_HEARTBEATS, {self._worker_name: now_ms})
        self._last_beat_ms = now_ms

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
            self._beat()
            if result.recovered:
                log.warning("scheduler.recovered_dead_sends", count=result.recovered)
            if result.moved + result.recovered >= self._batch_size:
                continue  # more may be due right now
            self._stop.wait(self._poll_interval_s)

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="sms-dispatch-scheduler", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
