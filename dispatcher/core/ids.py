"""Message ids: sortable by creation time, unguessable, URL-safe (a ULID)."""

from __future__ import annotations

import os

from dispatcher.core.clock import now_ms as wall_clock_ms

__all__ = ["new_message_id"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_message_id(now_ms: int | None = None) -> str:
    """A 26-character ULID: 48 bits of milliseconds, then 80 random bits, Crockford base32."""
    ms = wall_clock_ms() if now_ms is None else now_ms
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))
