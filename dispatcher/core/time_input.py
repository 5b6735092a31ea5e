"""``--since`` / ``?since=``: a time given as how long ago, an ISO 8601 time, or epoch ms."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["parse_since"]


def parse_since(text: str, *, now_ms: int) -> int:
    """``30m``, ``2h``, ``1d`` ago, an ISO 8601 time, or epoch milliseconds → epoch ms; a
    :class:`ValueError` names the forms accepted."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    raw = text.strip()
    if raw[:-1].isdigit() and raw[-1:] in units:
        return now_ms - int(raw[:-1]) * units[raw[-1]] * 1000
    if raw.isdigit():
        return int(raw)
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("use 30m, 2h, 1d, an ISO 8601 time or epoch ms") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)
