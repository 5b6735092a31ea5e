"""The names the operating system shows for the worker's own threads (``top -H``, ``ps -L``,
``/proc/<pid>/task/*/comm``).

Python keeps a thread's name to itself: to the kernel every thread bears the process's name. A
thread that calls :func:`name_os_thread` first is shown under its Python name there too (its first
15 bytes, the kernel's limit), so an operator, or the benchmark, can tell the event loop from the
finishers and from Celery's job threads. Linux only; elsewhere it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
import threading
from typing import Any

__all__ = ["OS_NAME_BYTES", "name_os_thread"]

OS_NAME_BYTES = 15  # the kernel's limit, without the terminating NUL
_PR_SET_NAME = 15


@functools.cache
def _prctl() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    return getattr(libc, "prctl", None)


def name_os_thread() -> None:
    """Give the calling thread its Python name in the operating system too."""
    prctl = _prctl()
    if prctl is None:
        return
    name = threading.current_thread().name.encode("utf-8")[:OS_NAME_BYTES]
    prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)
