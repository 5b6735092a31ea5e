"""The local stack's state file (``<data_dir>/dev.json``): where ``smsdispatch dev`` wrote the
addresses of what it runs, so other commands (``send``, ``status``, ``demo``) of this machine find
them, and where Redis is when no URL is configured."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dispatcher.config.redis_address import RedisAddress
from dispatcher.config.settings import Settings
from dispatcher.errors import ConfigError

__all__ = [
    "dev_state_path",
    "read_dev_state",
    "resolve_redis_address",
    "resolve_redis_url",
    "write_dev_state",
]


def dev_state_path(settings: Settings) -> Path:
    """Where ``smsdispatch dev`` writes the addresses of the stack it runs."""
    return settings.data_dir / "dev.json"


def write_dev_state(settings: Settings, state: dict[str, Any]) -> None:
    """Write the running stack's state, readable by this user only (it holds the stack's key)."""
    path = dev_state_path(settings)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"pid": os.getpid(), **state}), encoding="utf-8")


def read_dev_state(settings: Settings) -> dict[str, Any] | None:
    """The state of the stack running here, or None (no file, unreadable, or its process gone)."""
    try:
        state = json.loads(dev_state_path(settings).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(state, dict) and _pid_alive(state.get("pid")):
        return state
    return None


def resolve_redis_url(settings: Settings) -> str:
    """``SMSD_REDIS_URL`` (or ``redis_url`` in the file), else the running dev stack's Redis."""
    if settings.redis_url:
        return settings.redis_url
    state = read_dev_state(settings)
    if state is not None and state.get("redis_url"):
        return str(state["redis_url"])
    raise ConfigError(
        "redis_url",
        "is not set and no `smsdispatch dev` stack is running here",
        env_var="SMSD_REDIS_URL",
    )


def resolve_redis_address(settings: Settings) -> RedisAddress:
    """The Redis of :func:`resolve_redis_url`, with its Sentinel master: the settings', else the
    one the running dev stack (``smsdispatch dev --sentinel``) wrote down."""
    url = resolve_redis_url(settings)
    if settings.redis_url or settings.sentinel_master:
        return settings.redis_address(url)
    state = read_dev_state(settings) or {}
    master = state.get("sentinel_master")
    return RedisAddress(url, str(master) if master else None, settings.sentinel_password)


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
