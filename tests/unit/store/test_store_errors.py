"""Every error redis-py can raise becomes an error of sms-dispatch where the store meets it."""

from __future__ import annotations

import inspect

import pytest
import redis
import redis.exceptions

from dispatcher.errors import (
    DispatchError,
    StoreAuthenticationError,
    StoreError,
    StoreOutOfMemoryError,
    StoreUnavailableError,
)
from dispatcher.store.connection import store_error, translates_redis_errors

REDIS_ERRORS = sorted(
    (
        cls
        for _, cls in inspect.getmembers(redis.exceptions, inspect.isclass)
        if issubclass(cls, redis.RedisError)
    ),
    key=lambda cls: cls.__name__,
)


@pytest.mark.parametrize("error_class", REDIS_ERRORS, ids=lambda cls: cls.__name__)
def test_every_redis_error_is_translated(error_class: type[redis.RedisError]) -> None:
    """Each redis-py exception class maps to a StoreError that names it; the unreachable and
    not-ready ones to StoreUnavailableError, a refused password to StoreAuthenticationError, a
    write refused at maxmemory to StoreOutOfMemoryError."""
    try:
        original = error_class("boom")
    except (TypeError, ValueError):  # a class whose message has a form of its own
        original = error_class.__new__(error_class)
    translated = store_error(original)
    assert isinstance(translated, StoreError)
    assert isinstance(translated, DispatchError)
    assert translated.error == error_class.__name__
    out_of_memory = issubclass(error_class, redis.exceptions.OutOfMemoryError)
    unavailable = out_of_memory or issubclass(
        error_class, redis.ConnectionError | redis.TimeoutError | redis.BusyLoadingError
    )
    assert isinstance(translated, StoreUnavailableError) == unavailable
    assert isinstance(translated, StoreOutOfMemoryError) == out_of_memory
    if issubclass(error_class, redis.AuthenticationError):
        assert isinstance(translated, StoreAuthenticationError)


def test_a_script_refused_at_maxmemory_is_out_of_memory() -> None:
    """Redis 6 reports a script whose first write met maxmemory as a script error, not as OOM:
    it is still known for what it is."""
    script_error = redis.ResponseError(
        "Error running script (call to f_3c1e): @user_script:12: @user_script: 12: -OOM "
        "command not allowed when used memory > 'maxmemory'."
    )
    translated = store_error(script_error)
    assert isinstance(translated, StoreOutOfMemoryError)
    assert "maxmemory" in translated.detail
    other = store_error(redis.ResponseError("Error running script: @user_script:3: bad argument"))
    assert not isinstance(other, StoreUnavailableError)


def test_a_translated_call_keeps_the_original_as_its_cause() -> None:
    """A store call that meets a Redis error raises ours, with redis-py's as __cause__."""

    @translates_redis_errors
    def call() -> None:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused.")

    with pytest.raises(StoreUnavailableError) as caught:
        call()
    assert isinstance(caught.value.__cause__, redis.ConnectionError)
    assert "127.0.0.1:1" in caught.value.detail


def test_a_store_error_survives_pickling() -> None:
    """A StoreError copied through pickle keeps its class and both fields."""
    import pickle

    copied = pickle.loads(pickle.dumps(StoreUnavailableError("ConnectionError", "refused")))
    assert type(copied) is StoreUnavailableError
    assert (copied.error, copied.detail) == ("ConnectionError", "refused")
