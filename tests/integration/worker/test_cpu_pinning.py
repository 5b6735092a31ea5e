"""Worker CPU pinning: each worker process of a host takes a CPU no other holds, with every
thread it starts; a CPU is free again as soon as its holder exits, however it ends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []

pytestmark = pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs to pin to")

# Pins itself, starts a thread, prints the CPU and both threads' affinity, then holds the CPU
# until its stdin closes.
HOLDER = """
import os, sys, threading
from pathlib import Path
from dispatcher.worker.cpu_pinning import pin_to_a_free_cpu
cpu = pin_to_a_free_cpu(Path(sys.argv[1]))
seen = {}
thread = threading.Thread(target=lambda: seen.update(later=os.sched_getaffinity(0)))
thread.start(); thread.join()
print(cpu, sorted(os.sched_getaffinity(0)), sorted(seen["later"]), flush=True)
sys.stdin.read()
"""


def _holder(lock_dir: Path) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_dir)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().split(" ", 1)


def _release(process: subprocess.Popen[str]) -> None:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.close()
    process.wait(timeout=10)
    process.stdout.close()


def test_each_worker_takes_a_cpu_no_other_holds(tmp_path: Path) -> None:
    holders = [_holder(tmp_path) for _ in CPUS]
    try:
        taken = [int(cpu) for _, (cpu, _) in holders]
        assert sorted(taken) == CPUS  # one each, none shared
        for (_, (_cpu, affinity)), in_use in zip(holders, taken, strict=True):
            # the process and a thread it started afterwards both run on its CPU only
            assert affinity.strip() == f"[{in_use}] [{in_use}]"
        extra, (cpu, affinity) = _holder(tmp_path)  # every CPU held: not pinned
        assert cpu == "None"
        assert affinity.strip().startswith(str(CPUS))
        _release(extra)
    finally:
        for process, _ in holders:
            _release(process)


def test_a_cpu_is_free_again_when_its_holder_is_killed(tmp_path: Path) -> None:
    first, (cpu, _) = _holder(tmp_path)
    first.kill()
    _release(first)
    again, (cpu_again, _) = _holder(tmp_path)
    try:
        assert cpu_again == cpu
    finally:
        _release(again)
