"""A background thread that writes what a worker counted in memory to Redis, every so often.

Counting in the worker and adding it up in Redis a few times a second, instead of once per
message, is what keeps the commands per message low (:mod:`dispatcher.store.gates` successes,
:mod:`dispatcher.store.message_counts`). A flush that fails keeps its counts for the next one;
stopping flushes one last time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from dispatcher.errors import StoreError
from dispatcher.sending.background_thread import BackgroundThread

__all__ = ["Flusher"]


class Flusher:
    """Calls each of ``flushes`` every ``every_s`` in one thread, until :meth:`stop`."""

    def __init__(self, every_s: float, *flushes: Callable[[], object]) -> None:
        self._every_s = every_s
        self._flushes = flushes
        self._thread = BackgroundThread("sms-flusher", self._run, join_timeout_s=10)
        self._stop = self._thread.stopping

    def _flush_all(self) -> None:
        for flush in self._flushes:
            with contextlib.suppress(StoreError):  # kept for the next flush
                flush()

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self._flush_all()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and flush what is left."""
        self._thread.stop()
        self._flush_all()
