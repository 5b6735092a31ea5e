"""The worker's concurrency model: one asyncio loop in a background thread per process.

Celery's ``threads`` pool runs many jobs at once; each job thread hands its provider conversation
to the loop (:class:`~dispatcher.sending.send_bridge.SendBridge`), so a handful of job threads
keep hundreds of sends in flight. Nothing is created at import time: the loop and its thread start
on first use in the process that uses them (again after a fork).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from dispatcher.sending.background_thread import BackgroundThread

__all__ = ["LoopThread"]

_T = TypeVar("_T")
_START_TIMEOUT_S = 10.0


class LoopThread:
    """An asyncio event loop running forever in a daemon thread, started on first use."""

    def __init__(self, name: str = "sms-loop") -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: BackgroundThread | None = None
        self._pid: int | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop of this process, started if needed (again after a fork)."""
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        def wake() -> None:
            loop.call_soon_threadsafe(loop.stop)

        thread = BackgroundThread(self._name, run, join_timeout_s=_START_TIMEOUT_S, wake=wake)
        thread.start()
        ready.wait(timeout=_START_TIMEOUT_S)
        self._loop, self._thread, self._pid = loop, thread, os.getpid()

    @property
    def started(self) -> bool:
        """Whether this process's loop is running."""
        return self._loop is not None and self._pid == os.getpid()

    def submit(self, coro: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        """Schedule ``coro`` on the loop from any other thread."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, _T], *, timeout_s: float) -> _T:
        """Run ``coro`` on the loop and wait at most ``timeout_s`` for it (then cancel it)."""
        future = self.submit(coro)
        try:
            return future.result(timeout=timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        """Stop the loop and join its thread (only in the process that started it)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None or self._pid != os.getpid():
                return
            thread.stop()
            loop.close()
            self._loop = self._thread = None
