"""The worker's own threads are shown under their names by the operating system."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dispatcher.sending.background_thread import BackgroundThread
from dispatcher.sending.loop_thread import LoopThread
from dispatcher.sending.thread_names import OS_NAME_BYTES, name_os_thread

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def _os_name(native_id: int) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


def test_a_thread_takes_its_python_name_cut_to_the_kernel_limit() -> None:
    seen: dict[str, str] = {}

    def run() -> None:
        before = _os_name(threading.get_native_id())
        name_os_thread()
        seen["before"], seen["after"] = before, _os_name(threading.get_native_id())

    thread = threading.Thread(target=run, name="sms-a-name-longer-than-fifteen")
    thread.start()
    thread.join()
    assert seen["after"] == "sms-a-name-longer-than-fifteen"[:OS_NAME_BYTES]
    assert seen["before"] != seen["after"]


def test_the_event_loop_thread_is_named() -> None:
    loop_thread = LoopThread()
    try:
        loop_thread.loop  # noqa: B018 - starts the thread
        native_id = loop_thread._thread.native_id if loop_thread._thread else None
        assert native_id is not None
        assert _os_name(native_id) == "sms-loop"
    finally:
        loop_thread.stop()


def _os_names() -> list[str]:
    names = []
    for task in Path("/proc/self/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except OSError:
            continue  # ended meanwhile
    return names


def _until(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_background_thread_is_named_runs_until_stopped_and_starts_again() -> None:
    rounds: list[int] = []
    background: BackgroundThread

    def loop() -> None:
        while not background.stopping.wait(0.01):
            rounds.append(1)

    background = BackgroundThread("sms-test-bg", loop, join_timeout_s=5)
    for _ in range(2):  # started again after a stop
        background.start()
        background.start()  # already running: still one thread
        try:
            assert _until(lambda: bool(rounds) and "sms-test-bg" in _os_names())
            assert _os_names().count("sms-test-bg") == 1
        finally:
            background.stop()
        assert "sms-test-bg" not in _os_names()
        rounds.clear()
