"""One CPU for each worker process of a host.

A worker's Python runs on one core at a time (one interpreter lock), but its threads (the
consumer, the job threads, the event loop, the finishers) hand that lock to one another thousands
of times a second. When the kernel runs them on different cores, every hand-off wakes a thread on
another core, and on this project's 2-core benchmark machine that cost a send_sms worker 40% of
its throughput. Pinned to one CPU, the threads take turns where the caches are already warm.

Each worker takes the first CPU (of those it may use) that no other sms-dispatch worker of the
host holds, by holding a lock file for it (``<temp dir>/sms-dispatch-cpus/cpu-<n>.lock``); the
lock goes with the process, however it ends. When every CPU is taken, or the host has one CPU,
the worker is not pinned. Redis, the API and everything else still run on every CPU.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO

__all__ = ["LOCK_DIR", "pin_to_a_free_cpu"]

LOCK_DIR = Path(tempfile.gettempdir()) / "sms-dispatch-cpus"

_held: IO[bytes] | None = None  # the lock of this process's CPU, held until it exits


def _lock_a_cpu(cpus: list[int], lock_dir: Path) -> tuple[int, IO[bytes]] | None:
    import fcntl  # noqa: PLC0415 - not on every platform

    try:
        lock_dir.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    for cpu in cpus:
        try:
            handle = (lock_dir / f"cpu-{cpu}.lock").open("ab")
        except OSError:  # another user's lock file: not ours to take
            continue
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            continue
        return cpu, handle
    return None


def pin_to_a_free_cpu(lock_dir: Path = LOCK_DIR) -> int | None:
    """Pin this process (all its threads so far, and every thread it starts later) to the first
    CPU no other worker of the host holds; the CPU, or None when it was not pinned."""
    global _held  # noqa: PLW0603 - one CPU per process, held for its lifetime
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    if _held is not None:
        _held.close()
        _held = None
    locked = _lock_a_cpu(cpus, lock_dir)
    if locked is None:
        return None
    cpu, _held = locked
    for task in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.sched_setaffinity(int(task), {cpu})
    return cpu
