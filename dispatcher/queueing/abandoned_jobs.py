"""The jobs a worker took and never acknowledged (it died, or its broker connection dropped).

kombu's Redis transport keeps them in its unacknowledged set and hands them out again once they
are older than the visibility timeout. It runs that sweep from the consumer's event loop, but
that timer has been seen not to come back after the consumer reconnects to a restarted Redis; the
delay-queue mover of every worker runs it too (:mod:`dispatcher.sending.delay_queue_mover`).
"""

from __future__ import annotations

from celery import Celery

__all__ = ["restore_abandoned_jobs"]


def restore_abandoned_jobs(app: Celery) -> None:
    """Put back on their queues the jobs taken and not acknowledged within the visibility timeout
    (kombu's own ``restore_visible``, under its mutex, so workers doing it at once are safe)."""
    with app.connection_for_write() as connection:
        connection.default_channel.qos.restore_visible(num=1_000, interval=1)
