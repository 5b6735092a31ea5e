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

Each tick also ends ``delivery_unknown`` the accepted messages whose wait for a final delivery
report (``delivery_reports.timeout_s``) is over (:mod:`dispatcher.store.report_deadlines`).

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

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dispatcher.core.clock import now_ms
from dispatcher.errors import StoreError
from dispatcher.logs import get_logger
from dispatcher.queueing.job_payloads import fill_job
from dispatcher.sending.background_thread import BackgroundThread
from dispatcher.store.delay_queue import DelayQueue, MoveResult
from dispatcher.store.report_deadlines import ReportDeadlines

__all__ = ["Canary", "DelayScheduler", "MoveResult"]

_MOST_BACKOFF_S = 5.0  # the longest pause after Redis errors in a row


@dataclass(frozen=True, slots=True)
class Canary:
    """This worker's canary: its name, its own queue, the job to push there, how often."""

    worker_name: str
    queue: str
    template: str
    every_ms: int


class DelayScheduler:
    """Moves due messages from the delay queue to their Celery queues, in a background thread."""

    def __init__(
        self,
        delay_queue: DelayQueue,
        *,
        poll_interval_s: float,
        batch_size: int,
        clock_ms: Callable[[], int] = now_ms,
        canary: Canary | None = None,
        restore_jobs: Callable[[], None] | None = None,
        restore_every_ms: int = 10_000,
        orphan_after_ms: int = 300_000,
        report_deadlines: ReportDeadlines | None = None,
    ) -> None:
        self._delay_queue = delay_queue
        self._report_deadlines = report_deadlines
        self._canary = canary
        self._last_canary_ms = 0
        self._restore_jobs = restore_jobs
        self._restore_every_ms = restore_every_ms
        self._last_restore_ms = 0
        self._orphan_after_ms = orphan_after_ms
        self._poll_interval_s = poll_interval_s
        self._batch_size = batch_size
        self._clock_ms = clock_ms
        self._thread = BackgroundThread("sms-scheduler", self._loop, join_timeout_s=10)
        self._stop = self._thread.stopping

    def run_once(self) -> MoveResult:
        """One atomic move of up to a batch of due messages."""
        return self._delay_queue.move_due(now_ms=self._clock_ms(), batch_size=self._batch_size)

    def _push_canary(self) -> None:
        """Every ``every_ms``: a canary job onto this worker's own queue (see heartbeats)."""
        canary = self._canary
        now = self._clock_ms()
        if canary is None or now - self._last_canary_ms < canary.every_ms:
            return
        self._last_canary_ms = now
        job = fill_job(
            canary.template,
            task_id=f"canary-{uuid.uuid4()}",
            argument=canary.worker_name,
            queue=canary.queue,
        )
        self._delay_queue.push_job(canary.queue, job)

    def requeue_orphans(self) -> int:
        """A new job for each message still waiting for a sender a visibility timeout after its
        job was published, while its priority queue is empty; returns how many got one."""
        now = self._clock_ms()
        return self._delay_queue.requeue_orphans(
            published_before_ms=now - self._orphan_after_ms,
            now_ms=now,
            batch_size=self._batch_size,
        )

    def end_unreported(self) -> int:
        """End ``delivery_unknown`` the accepted messages whose wait for a delivery report is
        over (up to a batch); how many."""
        if self._report_deadlines is None:
            return 0
        now = self._clock_ms()
        self._report_deadlines.drop_due_bodies(now_ms=now, batch_size=self._batch_size)
        return self._report_deadlines.end_overdue(now_ms=now, batch_size=self._batch_size)

    def _restore_jobs_when_due(self, log: Any) -> None:
        now = self._clock_ms()
        if self._restore_jobs is None or now - self._last_restore_ms < self._restore_every_ms:
            return
        self._last_restore_ms = now
        try:
            self._restore_jobs()
            requeued = self.requeue_orphans()
        except Exception as exc:  # a broker hiccup must not end the mover thread
            log.warning("scheduler.restore_failed", error=type(exc).__name__)
            return
        if requeued:
            log.warning("scheduler.requeued_lost_jobs", count=requeued)

    def _end_unreported(self, log: Any) -> None:
        try:
            ended = self.end_unreported()
        except StoreError as exc:
            log.warning("scheduler.redis_error", error=exc.error, failures=1)
            return
        if ended:
            log.info("scheduler.delivery_unknown", count=ended)

    def _loop(self) -> None:
        log = get_logger(component="scheduler")
        failures = 0
        while not self._stop.is_set():
            try:
                result = self.run_once()
            except StoreError as exc:
                failures += 1
                log.warning("scheduler.redis_error", error=exc.error, failures=failures)
                self._stop.wait(min(self._poll_interval_s * 2**failures, _MOST_BACKOFF_S))
                continue
            failures = 0
            self._push_canary()
            self._restore_jobs_when_due(log)
            self._end_unreported(log)
            if result.recovered:
                log.warning("scheduler.recovered_dead_sends", count=result.recovered)
            if result.moved + result.recovered >= self._batch_size:
                continue  # more may be due right now
            self._stop.wait(self._poll_interval_s)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._thread.stop()
