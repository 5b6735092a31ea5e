"""Which providers a message may use, in order. Pure: no I/O."""

from __future__ import annotations

from collections.abc import Collection, Mapping

__all__ = ["route_for"]


def route_for(
    to_e164: str,
    *,
    override: tuple[str, ...],
    prefixes: Mapping[str, tuple[str, ...]],
    default: tuple[str, ...],
    enabled: Collection[str],
) -> tuple[str, ...]:
    """The providers for ``to_e164``: the message's own list, else the longest matching prefix
    route (prefixes are E.164 digits without ``+``), else the default route; disabled providers
    are left out."""
    if override:
        chosen = override
    else:
        digits = to_e164.lstrip("+")
        matches = [p for p in prefixes if digits.startswith(p.lstrip("+"))]
        chosen = prefixes[max(matches, key=len)] if matches else default
    return tuple(name for name in chosen if name in enabled)
