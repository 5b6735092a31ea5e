"""The store's Lua scripts, each a ``.lua`` file beside this module, loaded by name.

A script names the helper files it builds on in lines ``--#include <name>`` (``fill_job``,
``claim_lib``, ...), which are put in its place once, in order; a helper is a file of ``local
function`` definitions. A script is registered on a client as a :class:`StoreScript`, which runs
it with ``EVALSHA`` and loads it again on ``NOSCRIPT`` (a restarted or new server has an empty
script cache).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import hiredis
import redis
from redis.client import Pipeline
from redis.commands.core import Script
from redis.connection import AbstractConnection
from redis.exceptions import NoScriptError

__all__ = ["LUA_DIR", "StoreScript", "lua_source", "register_script"]

LUA_DIR = Path(__file__).parent / "lua"
_INCLUDE = re.compile(r"^--#include (\w+)\s*$", re.MULTILINE)


@functools.cache
def lua_source(name: str) -> str:
    """The text of script ``name`` with its helpers put in; :class:`FileNotFoundError` for a
    name with no file."""
    text = (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda match: lua_source(match.group(1)), text)


class StoreScript(Script):
    """A redis-py ``Script`` whose call on its own client packs the whole ``EVALSHA`` at once and
    sends it on one of the client's pooled connections, retried as the client retries.

    redis-py's general path checks each argument and records its metrics on every command: for
    the script that records a message (some 80 arguments) that is most of the CPU the enqueuing
    process spends on a ``send_sms``. On a pipeline or another client, the call is redis-py's.
    """

    def __call__(
        self,
        keys: Sequence[Any] | None = None,
        args: Iterable[Any] | None = None,
        client: Any = None,
    ) -> Any:
        target = self.registered_client if client is None else client
        if (
            not isinstance(target, redis.Redis)
            or isinstance(target, Pipeline)
            or target.connection is not None  # a single-connection client: its lock applies
        ):
            return super().__call__(keys, args, client)
        return self.call_and_wait(keys, args, client=target)[0]

    def call_and_wait(
        self,
        keys: Sequence[Any] | None,
        args: Iterable[Any] | None,
        *,
        replicas: int = 0,
        timeout_ms: int = 0,
        client: redis.Redis | None = None,
    ) -> tuple[Any, int]:
        """Run the script on its own client and, with ``replicas``, ``WAIT`` for that many
        replicas to have its writes (at most ``timeout_ms``), in the same round trip. Returns
        the script's answer and how many replicas confirmed (0 without a wait)."""
        target = client or self.registered_client
        assert isinstance(target, redis.Redis)  # registered on one (register_script)
        keys, args = list(keys or ()), list(args or ())
        try:
            return self._evalsha(target, keys, args, replicas, timeout_ms)
        except NoScriptError:  # a new or restarted server: load it, and run it once more
            self.sha = target.script_load(self.script)
            return self._evalsha(target, keys, args, replicas, timeout_ms)

    def _evalsha(
        self, client: redis.Redis, keys: list[Any], args: list[Any], replicas: int, timeout_ms: int
    ) -> tuple[Any, int]:
        try:
            commands = [hiredis.pack_command(("EVALSHA", self.sha, len(keys), *keys, *args))]
        except TypeError as exc:  # what redis-py's own encoder refuses too (None, bool, ...)
            raise redis.DataError(str(exc)) from exc
        if replicas:
            commands.append(hiredis.pack_command(("WAIT", replicas, timeout_ms)))  # type: ignore[arg-type]
        pool = client.connection_pool
        connection = pool.get_connection()
        try:
            answers = connection.retry.call_with_retry(
                lambda: _send_and_read(connection, commands),
                lambda _error: connection.disconnect(),  # type: ignore[no-untyped-call]
            )
        finally:
            pool.release(connection)
        for answer in answers:
            if isinstance(answer, redis.ResponseError):
                raise answer
        return answers[0], int(answers[1]) if replicas else 0


def _send_and_read(connection: AbstractConnection, commands: list[bytes]) -> list[Any]:
    """Send ``commands`` at once and read every answer, an error answer as its exception (so
    the connection is left with nothing unread)."""
    connection.send_packed_command(commands)  # type: ignore[no-untyped-call]
    answers: list[Any] = []
    for _ in commands:
        try:
            answers.append(connection.read_response())
        except redis.ResponseError as exc:
            answers.append(exc)
    return answers


def register_script(client: redis.Redis, name: str) -> StoreScript:
    """Script ``name`` on ``client``."""
    return StoreScript(client, lua_source(name))
