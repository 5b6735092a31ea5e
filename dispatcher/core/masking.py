"""Phone numbers as logs, views and callbacks show them: only the last four digits."""

from __future__ import annotations

__all__ = ["mask_number"]


def mask_number(number: str) -> str:
    """A phone number with all but its last four digits hidden: ``+*******2671``."""
    digits = number.lstrip("+")
    if len(digits) <= 4:
        return "*" * len(digits)
    prefix = "+" if number.startswith("+") else ""
    return prefix + "*" * (len(digits) - 4) + digits[-4:]
