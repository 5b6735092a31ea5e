"""Where the store meets redis-py: the client, and the one translation of Redis errors into the
error tree of sms-dispatch (:mod:`dispatcher.errors`).

Nothing above the store catches a redis-py exception: each store call that reaches Redis raises
:class:`~dispatcher.errors.StoreUnavailableError` when Redis cannot be reached, timed out or is
still loading its data (the caller may try again: a restart takes seconds), its subclass
:class:`~dispatcher.errors.StoreOutOfMemoryError` when Redis is at ``maxmemory`` and refuses a
write (a script is refused whole: Redis judges memory before its first write), and
:class:`~dispatcher.errors.StoreError` for anything else Redis refused. redis-py's messages name
the host and port, never the password.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import redis
from redis.sentinel import Sentinel

from dispatcher.config.redis_address import RedisAddress
from dispatcher.errors import (
    StoreAuthenticationError,
    StoreError,
    StoreOutOfMemoryError,
    StoreUnavailableError,
)

__all__ = [
    "REDIS_UNAVAILABLE",
    "RedisClient",
    "close_client",
    "connect_redis",
    "store_error",
    "translates_redis_errors",
]

# A connection to the store, as the layers above hold it: handed to store functions and classes,
# never used to send a command themselves.
RedisClient = redis.Redis

# What redis-py raises when Redis is out of reach or not ready yet.
REDIS_UNAVAILABLE: tuple[type[redis.RedisError], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.BusyLoadingError,
)

# What Redis answers a write at maxmemory under noeviction (in a script's error too).
_OUT_OF_MEMORY = "OOM command not allowed"

_P = ParamSpec("_P")
_R = TypeVar("_R")


# How every client of ours talks to a server: it gives up on a server that stopped answering
# (a hung master is not failed over otherwise), and keeps idle connections checked.
_CONNECTION_OPTIONS: dict[str, Any] = {
    "socket_connect_timeout": 5,
    "socket_timeout": 10,
    "socket_keepalive": True,
    "health_check_interval": 30,
    "retry_on_timeout": True,
}


def connect_redis(address: RedisAddress | str) -> RedisClient:
    """A client for ``address``: a URL (``redis://``, ``rediss://``, ``unix://``), or the master
    its Sentinels name (``sentinel://``), which it asks for again after a failover (a command on
    a demoted master is retried on the new one). It connects on first use."""
    if isinstance(address, str):
        address = RedisAddress(address)
    if not address.is_sentinel:
        return redis.Redis.from_url(address.url, decode_responses=True, **_CONNECTION_OPTIONS)
    found = address.sentinels()
    sentinel_kwargs: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 5}
    if address.sentinel_password:
        sentinel_kwargs["password"] = address.sentinel_password
    sentinels = Sentinel(list(found.hosts), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call, unused-ignore]
    # A command to a master that hangs gives up sooner, so it is tried on the new one sooner.
    options = {**_CONNECTION_OPTIONS, "socket_timeout": 5}
    client: RedisClient = sentinels.master_for(  # type: ignore[no-untyped-call, unused-ignore]
        address.master or "",
        redis_class=redis.Redis,
        db=found.db,
        username=found.username,
        password=found.password,
        decode_responses=True,
        **options,
    )
    return client


def store_error(exc: redis.RedisError) -> StoreError:
    """The error of sms-dispatch for what redis-py raised."""
    name, detail = type(exc).__name__, str(exc)
    if isinstance(exc, redis.AuthenticationError):
        return StoreAuthenticationError(name, detail)
    if isinstance(exc, redis.exceptions.OutOfMemoryError) or _OUT_OF_MEMORY in detail:
        # A script's refusal comes as "Error running script ...: -OOM command not allowed ...".
        return StoreOutOfMemoryError("OutOfMemoryError", detail)
    if isinstance(exc, REDIS_UNAVAILABLE):
        return StoreUnavailableError(name, detail)
    return StoreError(name, detail)


def translates_redis_errors(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` raising :func:`store_error` of any Redis error, the original as its cause."""

    @functools.wraps(function)
    def translated(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return function(*args, **kwargs)
        except redis.RedisError as exc:
            raise store_error(exc) from exc

    return translated


def close_client(client: RedisClient) -> None:
    """Close the connections of ``client``."""
    client.close()
