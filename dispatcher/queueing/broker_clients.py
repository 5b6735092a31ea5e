"""One Redis client per broker connection pool, instead of one per broker operation.

kombu's Redis channel builds a new ``redis.Redis`` object around its connection pool for every
operation that has no client at hand: each task event it publishes, each acknowledgement. Since
redis-py builds a table of some 165 response callbacks, case-folded key by key, in every
``Redis.__init__`` (redis-py #3624), that construction alone took about 17% of a busy worker's
CPU, more than the provider exchange.

A ``redis.Redis`` holds no connection of its own (each command checks one out of the pool), so
one client per pool serves every thread. The client is remade when kombu replaces the pool, as
it does after the connection drops; the asynchronous pool (the consumer's own) is left as it is.
"""

from __future__ import annotations

import functools
from typing import Any

from kombu.transport import redis as kombu_redis

__all__ = ["reuse_broker_clients"]

_INSTALLED = "_smsd_reuses_clients"
_CLIENT = "_smsd_client"


def reuse_broker_clients() -> None:
    """Make kombu's Redis channel keep one client per connection pool (once per process)."""
    original = kombu_redis.Channel._create_client
    if getattr(original, _INSTALLED, False):
        return

    @functools.wraps(original)
    def create_client(self: Any, asynchronous: bool = False) -> Any:
        if asynchronous:
            return original(self, asynchronous)  # type: ignore[no-untyped-call]
        pool = self.pool
        client = self.__dict__.get(_CLIENT)
        if client is None or client.connection_pool is not pool:
            client = original(self, asynchronous)  # type: ignore[no-untyped-call]
            self.__dict__[_CLIENT] = client
        return client

    setattr(create_client, _INSTALLED, True)
    setattr(kombu_redis.Channel, "_create_client", create_client)  # noqa: B010 - patching a method
