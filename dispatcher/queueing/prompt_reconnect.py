"""The worker's Celery consumer, trying a lost broker again every second.

Celery's consumer reconnects through kombu's ``Connection.ensure_connection`` with kombu's
default intervals: after a failed round it sleeps 2 s, then 4, 6, 8 ... up to 30 s, and neither
Celery nor kombu has a setting for them. When a Redis primary dies, its Sentinels need a few
seconds to promote a replica. A worker whose rounds happen to fail just before the promotion
then sleeps through it: on a slow machine it was seen to resume 13 s after the promotion, for
4 s when the same run was quicker. A round costs one TCP connect per Sentinel (or one to the
server), so trying every ``RECONNECT_INTERVAL_S`` costs nothing worth counting and the consumer
takes the new master within about a second of its promotion; the same holds for a single
Redis restarted.
"""

from __future__ import annotations

import functools
from typing import Any

from celery.worker.consumer import Consumer

__all__ = ["RECONNECT_INTERVAL_S", "PromptReconnectConsumer", "retry_promptly"]

RECONNECT_INTERVAL_S = 1.0


class PromptReconnectConsumer(Consumer):  # type: ignore[misc]  # Celery is untyped
    """Celery's consumer, its broker connection retried every ``RECONNECT_INTERVAL_S``."""

    def ensure_connected(self, conn: Any) -> Any:
        return super().ensure_connected(retry_promptly(conn))


def retry_promptly(conn: Any) -> Any:
    """``conn`` (a kombu connection), its ``ensure_connection`` sleeping ``RECONNECT_INTERVAL_S``
    between rounds unless told otherwise."""
    if "ensure_connection" not in vars(conn):
        conn.ensure_connection = functools.partial(
            conn.ensure_connection,
            interval_start=RECONNECT_INTERVAL_S,
            interval_step=0,
            interval_max=RECONNECT_INTERVAL_S,
        )
    return conn
