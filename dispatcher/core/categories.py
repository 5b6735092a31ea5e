"""What a message is for, which decides how consent and timing rules treat it: ``transactional``
(a code, a receipt, an alert the person asked for) or ``marketing`` (what they may opt out of and
must not get at night). A message says which (``category``); without it, ``priority="bulk"`` is
``marketing`` and everything else ``transactional``. Pure."""

from __future__ import annotations

__all__ = ["MESSAGE_CATEGORIES", "default_category"]

MESSAGE_CATEGORIES: tuple[str, ...] = ("transactional", "marketing")


def default_category(priority: str) -> str:
    """The category of a message that names none."""
    return "marketing" if priority == "bulk" else "transactional"
