"""`smsdispatch api` as real processes on loopback, for tests that need more than the API the
test process runs itself."""

from __future__ import annotations

import functools
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dispatcher.devstack.embedded_redis import free_port
from tests.conftest import REPO, wait_for

__all__ = ["api_is_up", "running_apis"]


def api_is_up(url: str) -> bool:
    """Whether the API at ``url`` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def running_apis(env: dict[str, str], log_dir: Path, count: int = 1) -> Iterator[list[str]]:
    """``count`` API processes with ``env``, each logging to ``log_dir/api-<n>.log``; their
    URLs once all answer. Stopped on leaving."""
    processes, urls = [], []
    try:
        for n in range(count):
            port = free_port()
            with (log_dir / f"api-{n}.log").open("wb") as log:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "dispatcher", "api", "--port", str(port)],
                        env=env,
                        cwd=REPO,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            urls.append(f"http://127.0.0.1:{port}")
        for url in urls:
            wait_for(functools.partial(api_is_up, url), timeout_s=20, interval_s=0.2)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
