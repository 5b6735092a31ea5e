"""The store's Lua scripts, each a ``.lua`` file beside this module, loaded by name.

A script names the helper files it builds on in lines ``--#include <name>`` (``fill_job``,
``claim_lib``, ...), which are put in its place once, in order; a helper is a file of ``local
function`` definitions. A script is registered on a client as a redis-py ``Script``, which runs it
with ``EVALSHA`` and loads it again on ``NOSCRIPT`` (a restarted or new server has an empty
script cache).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import redis
from redis.commands.core import Script

__all__ = ["LUA_DIR", "lua_source", "register_script"]

LUA_DIR = Path(__file__).parent / "lua"
_INCLUDE = re.compile(r"^--#include (\w+)\s*$", re.MULTILINE)


@functools.cache
def lua_source(name: str) -> str:
    """The text of script ``name`` with its helpers put in; :class:`FileNotFoundError` for a
    name with no file."""
    text = (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")
    return _INCLUDE.sub(lambda match: lua_source(match.group(1)), text)


def register_script(client: redis.Redis, name: str) -> Script:
    """Script ``name`` on ``client``."""
    return client.register_script(lua_source(name))
