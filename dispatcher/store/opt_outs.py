"""The opt-out list: one hash (``smsd:opt_outs``), a field per entry, named by the digest of
its number and sender (:func:`dispatcher.core.opt_outs.opt_out_digest`), holding what the entry
is (number, sender, where it came from, when). The door's check is in ``create_messages.lua`` and
the claim's in ``claim_lib.lua``, each one ``HMGET`` of this hash in the script already run, so the
list costs no round trip of its own. An erased number's entry keeps its field (the opt-out holds)
and loses its number."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from dispatcher.core.opt_outs import opt_out_digest, sender_key
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.redis_keys import METRICS, OPT_OUTS

__all__ = ["OptOutEntry", "OptOutList"]

# Entries written a round trip when many are added at once.
_ADD_CHUNK = 1_000


def _kind(source: str) -> str:
    """What the metrics count a source as: ``api:<key name>`` is ``api``."""
    return source.partition(":")[0]


@dataclass(frozen=True, slots=True)
class OptOutEntry:
    """A number (E.164) opted out of a sender's messages (every sender's when ``sender`` is
    empty); ``number`` is empty once the number has been erased."""

    number: str
    sender: str = ""
    source: str = "api"  # keyword | api[:<key name>] | cli | import
    at_ms: int = 0
    keyword: str = ""

    @property
    def digest(self) -> str:
        return opt_out_digest(self.number, self.sender)

    def to_json(self) -> str:
        data: dict[str, object] = {
            "number": self.number,
            "sender": self.sender,
            "source": self.source,
            "at_ms": self.at_ms,
        }
        if self.keyword:
            data["keyword"] = self.keyword
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> OptOutEntry:
        data = json.loads(text)
        return cls(
            number=str(data.get("number", "")),
            sender=str(data.get("sender", "")),
            source=str(data.get("source", "")),
            at_ms=int(data.get("at_ms", 0)),
            keyword=str(data.get("keyword", "")),
        )


class OptOutList:
    """The opt-out list on one Redis client."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @translates_redis_errors
    def add(self, entries: Iterable[OptOutEntry]) -> int:
        """Put each number on the list (an entry already there is kept with its first date);
        how many were not on it before. Counted as ``opt_outs|added|<source>`` (an API key's name
        left out)."""
        added = 0
        chunk: list[OptOutEntry] = []
        for entry in entries:
            chunk.append(entry)
            if len(chunk) == _ADD_CHUNK:
                added += self._add_chunk(chunk)
                chunk = []
        if chunk:
            added += self._add_chunk(chunk)
        return added

    def _add_chunk(self, entries: list[OptOutEntry]) -> int:
        with self._redis.pipeline(transaction=False) as pipe:
            for entry in entries:
                pipe.hsetnx(OPT_OUTS, entry.digest, entry.to_json())
            results = pipe.execute()
            sources: dict[str, int] = {}
            for entry, new in zip(entries, results, strict=True):
                if new:
                    kind = _kind(entry.source)
                    sources[kind] = sources.get(kind, 0) + 1
            for source, count in sources.items():
                pipe.hincrby(METRICS, f"opt_outs|added|{source}", count)
            pipe.execute()
        return sum(sources.values())

    @translates_redis_errors
    def remove(self, number: str, sender: str = "", *, source: str = "api") -> bool:
        """Take the number's entry (for ``sender``) off the list; False when it was not on it."""
        removed = bool(self._redis.hdel(OPT_OUTS, opt_out_digest(number, sender)))
        if removed:
            self._redis.hincrby(METRICS, f"opt_outs|removed|{_kind(source)}", 1)
        return removed

    @translates_redis_errors
    def get(self, number: str, sender: str = "") -> OptOutEntry | None:
        """The entry of ``number`` for ``sender`` (every sender when empty), or None."""
        found = self._redis.hget(OPT_OUTS, opt_out_digest(number, sender))
        return None if found is None else OptOutEntry.from_json(str(found))

    @translates_redis_errors
    def holds_any(self, digests: Iterable[str]) -> bool:
        """Whether any of these entries (digests) is on the list, in one ``HMGET`` as the door's
        and the claim's checks make."""
        return any(v is not None for v in self._redis.hmget(OPT_OUTS, list(digests)))

    @translates_redis_errors
    def count(self) -> int:
        return int(self._redis.hlen(OPT_OUTS))

    @translates_redis_errors
    def page(self, *, cursor: int = 0, count: int = 100) -> tuple[int, list[OptOutEntry]]:
        """One page of the list (in no order) and the cursor of the next (0: that was the last);
        a page may hold a few more or fewer than ``count``."""
        next_cursor, rows = self._scan(cursor, count)
        return next_cursor, [OptOutEntry.from_json(v) for v in rows.values()]

    def _scan(self, cursor: int, count: int) -> tuple[int, dict[str, str]]:
        next_cursor, rows = self._redis.hscan(OPT_OUTS, cursor=cursor, count=count)
        assert isinstance(rows, dict)
        return int(next_cursor), {str(k): str(v) for k, v in rows.items()}

    @translates_redis_errors
    def erase_number(self, number: str) -> int:
        """Drop ``number`` from every entry of it (each stays, as its digest, so the opt-out
        still holds); how many entries held it."""
        erased = 0
        cursor = 0
        while True:
            cursor, rows = self._scan(cursor, 1_000)
            for field, value in rows.items():
                entry = OptOutEntry.from_json(value)
                if entry.number == number:
                    blank = OptOutEntry("", sender_key(entry.sender), entry.source, entry.at_ms)
                    self._redis.hset(OPT_OUTS, field, blank.to_json())
                    erased += 1
            if cursor == 0:
                return erased
