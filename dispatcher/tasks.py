"""The Celery tasks: thin shells that decode the job and hand it to the worker's courier."""

from __future__ import annotations

from typing import Any

from celery import Celery

from dispatcher.celery_app import HEARTBEAT_TASK, SEND_TASK
from dispatcher.worker import worker_runtime

__all__ = ["register_tasks"]


def register_tasks(app: Celery) -> None:
    """Register the send task and the canary task on ``app``."""

    @app.task(name=SEND_TASK, bind=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def send_message(self: Any, message_id: str) -> str:
        runtime = worker_runtime()
        runtime.heartbeat.beat()
        return runtime.courier.deliver(message_id, task_id=self.request.id)

    @app.task(name=HEARTBEAT_TASK, ignore_result=True)  # type: ignore[untyped-decorator]
    def canary(worker_name: str) -> None:
        runtime = worker_runtime()
        if worker_name == runtime.heartbeat.worker_name:
            runtime.heartbeat.beat(force=True)
