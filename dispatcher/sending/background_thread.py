"""One named daemon thread that runs a loop until it is told to stop: every thread the worker
starts itself runs in one (the event loop, the finishers, the delay-queue scheduler, the
status-callback sender and the flusher)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from dispatcher.sending.thread_names import name_os_thread

__all__ = ["BackgroundThread"]


class BackgroundThread:
    """Runs ``loop`` in a daemon thread named ``name`` (for the operating system too) from
    :meth:`start` until :meth:`stop`. The loop waits on :attr:`stopping` between rounds and ends
    once it is set; a loop that waits on something else is woken by ``wake`` (called by
    :meth:`signal_stop` after setting it)."""

    def __init__(
        self,
        name: str,
        loop: Callable[[], None],
        *,
        join_timeout_s: float,
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.stopping = threading.Event()
        self._loop = loop
        self._wake = wake
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

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def native_id(self) -> int | None:
        """The operating system's id of the running thread (None before it starts)."""
        return None if self._thread is None else self._thread.native_id

    def signal_stop(self) -> None:
        """Tell the loop to stop, without waiting for it."""
        self.stopping.set()
        if self._wake is not None:
            self._wake()

    def join(self) -> None:
        """Wait for the thread to end (at most the join timeout)."""
        if self._thread is not None:
            self._thread.join(timeout=self._join_timeout_s)
            self._thread = None

    def stop(self) -> None:
        """Tell the loop to stop and wait for it (at most the join timeout)."""
        self.signal_stop()
        self.join()
