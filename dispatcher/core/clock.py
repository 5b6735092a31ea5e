"""The wall clock in epoch milliseconds, the unit every record, lease and due time is kept in."""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    """Now, in milliseconds since the epoch."""
    return int(time.time() * 1000)
