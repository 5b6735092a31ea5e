"""A guard around one kombu fault that stops a worker consuming after Redis restarts.

When the broker connection drops, Celery closes it and reconnects. Work still in hand then talks
to the old, closed channel: closing it hands the unacknowledged jobs back (``restore_unacked``),
a job that finished acknowledges or rejects its message. If the channel's transport is already
detached, kombu fails building a connection pool for it with ``AttributeError`` ('NoneType' object
has no attribute 'hostname' / 'client') instead of a connection error. Celery handles connection
errors there (it logs "Couldn't ack" and goes on) but takes the ``AttributeError`` for an
unrecoverable error and stops consuming while the process stays up. (The same family of fault is
reported as kombu #970 and celery #10205.)

The guard makes a detached channel raise what it is, a lost connection (``redis.ConnectionError``),
so Celery's own handling applies. The jobs concerned stay in the broker's unacknowledged set in
Redis, and the visibility-timeout sweep hands them out again.
"""

from __future__ import annotations

import functools
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

__all__ = ["guard_detached_channels"]

_GUARDED = "_smsd_guarded"


def guard_detached_channels() -> None:
    """Install the guard on kombu's Redis channel (once per process)."""
    original = kombu_redis.Channel._connparams
    if getattr(original, _GUARDED, False):
        return

    @functools.wraps(original)
    def connparams(self: Any, asynchronous: bool = False) -> Any:
        transport = self.connection
        if transport is None or transport.client is None:
            raise redis.ConnectionError("the broker connection of this channel is closed")
        return original(self, asynchronous)  # type: ignore[no-untyped-call]

    setattr(connparams, _GUARDED, True)
    setattr(kombu_redis.Channel, "_connparams", connparams)  # noqa: B010 - patching a method
