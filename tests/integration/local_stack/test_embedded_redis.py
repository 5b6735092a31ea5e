"""The embedded redis-server: loopback only, AOF on, nothing lost across a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from dispatcher.devstack.embedded_redis import EmbeddedRedis


def test_data_survives_a_restart(tmp_path: Path) -> None:
    """A key written before SHUTDOWN is there after the server starts again on the same folder."""
    server = EmbeddedRedis(tmp_path / "data")
    with server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        config = client.config_get("*")
        assert config["appendonly"] == "yes"
        assert config["maxmemory-policy"] == "noeviction"
        assert config["bind"] == "127.0.0.1"
        client.close()
    again = EmbeddedRedis(tmp_path / "data")
    with again:
        client = redis.Redis.from_url(again.url)
        assert client.get("k") == b"v"
        client.close()


def test_password(tmp_path: Path) -> None:
    """A server with a password refuses clients without it and serves those with it."""
    with EmbeddedRedis(tmp_path / "data", requirepass="s3cret-pw") as server:
        anonymous = redis.Redis(host="127.0.0.1", port=server.port or 0)
        with pytest.raises((redis.AuthenticationError, redis.ResponseError), match=r"(?i)auth"):
            anonymous.ping()
        anonymous.close()
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.close()
