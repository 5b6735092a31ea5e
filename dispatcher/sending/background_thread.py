"""One named daemon thread that runs a loop until it is told to stop: the worker's delay-queue
scheduler, status-callback sender and flusher each run in one."""

from __future__ import annotations

import threading
from collections.abc import Callable

from dispatcher.sending.thread_names import name_os_thread

__all__ = ["BackgroundThread"]


class BackgroundThread:
    """Runs ``loop`` in a daemon thread named ``name`` (for the operating system too) from
    :meth:`start` until :meth:`stop`; the loop waits on :attr:`stopping` between rounds and ends
    once it is set."""

    def __init__(self, name: str, loop: Callable[[], None], *, join_timeout_s: float) -> None:
        self.name = name
        self.stopping = threading.Event()
        self._loop = loop
        self._join_timeout_s = join_timeout_s
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        name_os_thread()
        self._loop()

    def start(self) -> None:
        """Start the thread unless it is running."""
        if self._thread is None or not self._thread.is_alive():
            self.stopping.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Tell the loop to stop and wait for it (at most the join timeout)."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._join_timeout_s)
            self._thread = None
