"""Where the store meets redis-py: the client, and the one translation of Redis errors into the
error tree of sms-dispatch (:mod:`dispatcher.errors`).

Nothing above the store catches a redis-py exception: each store call that reaches Redis raises
:class:`~dispatcher.errors.StoreUnavailableError` when Redis cannot be reached, timed out or is
still loading its data (the caller may try again: a restart takes seconds), and
:class:`~dispatcher.errors.StoreError` for anything else Redis refused. redis-py's messages name
the host and port, never the password.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import redis

from dispatcher.errors import (
    StoreAuthenticationError,
    StoreError,
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

_P = ParamSpec("_P")
_R = TypeVar("_R")


def connect_redis(url: str) -> RedisClient:
    """A client for ``url`` (``redis://``, ``rediss://``, ``unix://``); connects on first use."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
        retry_on_timeout=True,
    )


def store_error(exc: redis.RedisError) -> StoreError:
    """The error of sms-dispatch for what redis-py raised."""
    name, detail = type(exc).__name__, str(exc)
    if isinstance(exc, redis.AuthenticationError):
        return StoreAuthenticationError(name, detail)
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
