"""The durable delay queue (``smsd:delay``) and the pending index (``smsd:pending``), as the
delay-queue mover of every worker drives them.

Each tick's move is one script: it takes the due ids out of the delay queue and pushes a Celery job
for each onto its priority's queue, and publishes again the sends whose lease ended (their sender
died), so however many workers tick at once each message is moved once. The orphan sweep gives a
new job to a ready list that holds messages and has not moved for a while, and to a message still
waiting for a sender long after its job was published, while its priority queue is empty. The
scripts take the queue of each priority as arguments
(:data:`dispatcher.core.names.PRIORITY_QUEUES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis

from dispatcher.core.names import PRIORITY_QUEUES
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.lua_scripts import register_script
from dispatcher.store.redis_keys import DELAY_QUEUE, MESSAGE_PREFIX, PENDING, READY_PREFIX

__all__ = ["DelayQueue", "MoveResult"]

_QUEUE_ARGS: tuple[str, ...] = tuple(
    part for priority, queue in PRIORITY_QUEUES.items() for part in (priority, queue)
)


@dataclass(frozen=True, slots=True)
class MoveResult:
    moved: int  # due retries published
    recovered: int  # messages of dead senders published again


class DelayQueue:
    """Moves due messages to their queues with jobs made from ``template`` (a send job's); a
    ready list found stuck gets a job of ``ready_template`` (one that drains a list)."""

    def __init__(self, client: redis.Redis, template: str, ready_template: str) -> None:
        self._redis = client
        self._template = template
        self._ready_template = ready_template
        self._move = register_script(client, "move_due")
        self._requeue_orphans = register_script(client, "requeue_orphans")

    @translates_redis_errors
    def move_due(self, *, now_ms: int, batch_size: int) -> MoveResult:
        """One atomic move of up to a batch of due messages (and of dead senders' messages)."""
        args: list[Any] = [now_ms, batch_size, self._template, MESSAGE_PREFIX, *_QUEUE_ARGS]
        moved, recovered = self._move(keys=[DELAY_QUEUE, PENDING], args=args)
        return MoveResult(int(moved), int(recovered))

    @translates_redis_errors
    def requeue_orphans(self, *, published_before_ms: int, now_ms: int, batch_size: int) -> int:
        """While its priority queue is empty: a new job for each ready list that holds messages
        and has not moved since ``published_before_ms``, and for each message still waiting for a
        sender whose job was published before then (one on a ready list is left to its list);
        how many jobs were published."""
        args: list[Any] = [
            published_before_ms,
            batch_size,
            self._template,
            MESSAGE_PREFIX,
            now_ms,
            self._ready_template,
            READY_PREFIX,
            *_QUEUE_ARGS,
        ]
        return int(self._requeue_orphans(keys=[PENDING], args=args))

    @translates_redis_errors
    def push_job(self, queue: str, job: str) -> None:
        """Push one ready job onto ``queue`` (a worker's canary)."""
        self._redis.lpush(queue, job)
