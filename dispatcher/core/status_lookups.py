"""When a provider that reports only when asked is next asked about a message: its schedule of
waits between lookups, the last wait repeating (default 30 s, 1, 2, 5, 10 and 30 min, then
hourly)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["next_lookup_wait_ms"]


def next_lookup_wait_ms(schedule_ms: Sequence[int], lookups_made: int) -> int:
    """The wait before the next lookup of a message asked about ``lookups_made`` times (the
    first lookup waits ``schedule_ms[0]`` after the acceptance)."""
    if not schedule_ms:
        raise ValueError("a lookup schedule has at least one wait")
    return schedule_ms[min(max(lookups_made, 0), len(schedule_ms) - 1)]
