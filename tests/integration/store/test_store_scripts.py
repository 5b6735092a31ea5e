"""The store's scripts on a real Redis: one packed EVALSHA on a pooled connection, with what
redis-py's own path does around it (NOSCRIPT, a dropped connection, arguments it refuses)."""

from __future__ import annotations

import pytest
import redis

from dispatcher.devstack.embedded_redis import EmbeddedRedis
from dispatcher.store.connection import connect_redis
from dispatcher.store.lua_scripts import StoreScript, register_script

ECHO = "return {KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3]) + 1}"


def test_a_script_answers_as_redis_py_would(redis_client: redis.Redis) -> None:
    script = StoreScript(redis_client, ECHO)
    assert script(keys=["k"], args=["é", 2.5, 41]) == ["k", "é", "2.5", 42]
    on_a_pipeline = redis_client.pipeline()
    script(keys=["k"], args=["a", "b", 1], client=on_a_pipeline)
    assert on_a_pipeline.execute() == [["k", "a", "b", 2]]


def test_an_empty_script_cache_is_filled_again(redis_client: redis.Redis) -> None:
    script = StoreScript(redis_client, ECHO)
    assert script(keys=["k"], args=["a", "b", 1])[3] == 2
    redis_client.script_flush()  # what a restarted or newly promoted server has
    assert script(keys=["k"], args=["a", "b", 2])[3] == 3
    assert redis_client.script_exists(script.sha) == [True]


def test_a_connection_the_server_dropped_is_made_again(
    redis_server: EmbeddedRedis, redis_client: redis.Redis
) -> None:
    client = connect_redis(redis_server.url)  # as the store connects
    script = register_script(client, "purge_dead_letter")
    assert script(keys=["smsd:a", "smsd:b"], args=["01X"]) is not None
    assert redis_client.client_kill_filter(_type="normal", skipme=True) >= 1
    assert script(keys=["smsd:a", "smsd:b"], args=["01X"]) is not None
    client.close()


def test_an_argument_redis_cannot_take_is_refused_before_it_is_sent(
    redis_client: redis.Redis,
) -> None:
    script = StoreScript(redis_client, ECHO)
    with pytest.raises(redis.DataError):
        script(keys=["k"], args=[None, "b", 1])
    with pytest.raises(redis.ResponseError):  # the connection is still good for the next
        script(keys=["k"], args=["a", "b", "not a number"])
    assert script(keys=["k"], args=["a", "b", 1])[3] == 2
