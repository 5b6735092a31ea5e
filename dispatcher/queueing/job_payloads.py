"""Celery jobs written by sms-dispatch itself: the payload ``app.send_task`` would push, made once
as a template and filled in per job, so a Lua script can queue a job in the same step as the state
change it follows (enqueue, a due retry, a dead send recovered)."""

from __future__ import annotations

import json

from celery import Celery
from kombu import serialization

from dispatcher.core.names import SEND_TASK

__all__ = [
    "MESSAGE_MARK",
    "QUEUE_MARK",
    "TASK_MARK",
    "fill_job",
    "job_template",
]

# The markers of a template, replaced per job (the store's fill_job.lua uses the same three words).
MESSAGE_MARK = "SMSDMSGID"
TASK_MARK = "SMSDTASKID"
QUEUE_MARK = "SMSDQUEUE"


def job_template(app: Celery, task: str = SEND_TASK) -> str:
    """The Redis payload of a ``task`` job with markers for its one argument (the message id),
    task id and queue.

    It is what ``app.send_task(task, args=[id], queue=queue)`` pushes, with the body left as
    plain JSON (``body_encoding`` utf-8) so the Lua script can fill it in.
    """
    message = app.amqp.create_task_message(TASK_MARK, task, [MESSAGE_MARK], {}, ignore_result=True)
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
            "delivery_info": {"exchange": "", "routing_key": QUEUE_MARK},
            "priority": 0,
            "body_encoding": "utf-8",
            "delivery_tag": TASK_MARK,
        },
    }
    return json.dumps(payload, separators=(",", ":"))


def fill_job(template: str, *, task_id: str, argument: str, queue: str) -> str:
    """The job of ``template`` for one task id, argument (a message id) and queue. The values
    are ids and queue names: letters, digits, ``.``, ``-`` and ``|``, nothing JSON escapes."""
    return (
        template.replace(TASK_MARK, task_id)
        .replace(MESSAGE_MARK, argument)
        .replace(QUEUE_MARK, queue)
    )
