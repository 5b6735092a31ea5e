"""The Celery tasks: thin shells that decode the job and hand it to the worker's pipeline.

The worker registers them on its app with its runtime handed in (:func:`register_tasks`); a web
app that publishes jobs never registers them.

A job that raises is rejected by Celery without being requeued (``acks_late`` with acknowledgement
on failure off), which on the Redis broker removes it. So a send job that could not reach Redis
(restarted, failed over, a network blip) is handed back to the queue instead, after a short pause
so a Redis outage is not a busy loop; if Redis is still down even that fails, and the job stays
unacknowledged until the visibility timeout brings it back. Either way its message is not lost.

A Redis at ``maxmemory`` refuses the job's claim whole, and would refuse the push that hands the
job back too. Such a job is acknowledged instead (an acknowledgement only deletes, which a full
Redis allows): its messages were not claimed, so they wait on their ready list or the pending
index, and the scheduler gives them a new job ``worker.claim_deadline_s`` after they were
published, once Redis has memory again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from celery import Celery
from celery.exceptions import Reject

from dispatcher.core.names import (
    HEARTBEAT_TASK,
    PRIORITY_QUEUES,
    SEND_BATCH_TASK,
    SEND_READY_TASK,
    SEND_TASK,
)
from dispatcher.errors import StoreOutOfMemoryError, StoreUnavailableError
from dispatcher.logs import get_logger
from dispatcher.worker.process import WorkerRuntime

__all__ = ["register_tasks"]

_T = TypeVar("_T")

_QUEUES = frozenset(PRIORITY_QUEUES.values())

# How long a job that could not reach Redis waits before it goes back to its queue.
_REDIS_DOWN_PAUSE_S = 1.0


def _run_job(job: Callable[[], _T], unrun: _T, **log_fields: str | None) -> _T:
    """``job()``, handed back to its queue (after a pause) when Redis cannot be reached, and
    acknowledged with ``unrun`` (after the same pause) when Redis is out of memory."""
    try:
        return job()
    except StoreOutOfMemoryError:
        get_logger(**log_fields).warning("sms.job_dropped", reason="redis_out_of_memory")
        time.sleep(_REDIS_DOWN_PAUSE_S)
        return unrun
    except StoreUnavailableError as exc:
        get_logger(**log_fields).warning(
            "sms.job_requeued", reason="redis_unavailable", error=exc.error
        )
        time.sleep(_REDIS_DOWN_PAUSE_S)
        raise Reject(reason="redis unavailable", requeue=True) from exc


def register_tasks(app: Celery, runtime: Callable[[], WorkerRuntime]) -> None:
    """Register the send tasks (one message, a batch, a ready list) and the canary task on
    ``app``; each runs on ``runtime()``, this process's runtime."""

    @app.task(name=SEND_TASK, bind=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def send_message(self: Any, message_id: str) -> str:
        parts = runtime()

        def job() -> str:
            parts.heartbeat.beat()
            return parts.pipeline.dispatch(message_id, task_id=self.request.id)

        return _run_job(job, "not_claimed", message_id=message_id, task_id=self.request.id)

    @app.task(name=SEND_BATCH_TASK, bind=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def send_batch(self: Any, message_ids: str) -> int:
        """The messages of one ``send_bulk`` chunk: their leases claimed in one step, then each
        handed to the pipeline."""
        parts = runtime()
        ids = [m for m in message_ids.split(",") if m]

        def job() -> int:
            parts.heartbeat.beat()
            parts.pipeline.dispatch_many(ids, task_id=self.request.id)
            return len(ids)

        return _run_job(job, 0, task_id=self.request.id)

    @app.task(name=SEND_READY_TASK, bind=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def send_ready(self: Any, queue: str) -> int:
        """The messages at the head of ``queue``'s ready list: taken and claimed in one step
        (which queues the list's next job when any are left), then each handed to the
        pipeline."""
        if queue not in _QUEUES:
            get_logger(task_id=self.request.id).error("worker.job_refused", queue=queue)
            return 0
        parts = runtime()

        def job() -> int:
            parts.heartbeat.beat()
            return parts.pipeline.dispatch_ready(queue, task_id=self.request.id)

        return _run_job(job, 0, task_id=self.request.id)

    @app.task(name=HEARTBEAT_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
    def canary(worker_name: str) -> None:
        parts = runtime()
        if worker_name == parts.heartbeat.worker_name:
            parts.heartbeat.beat(force=True)
