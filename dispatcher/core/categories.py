"""What a message is for, which decides how consent, timing and the guards on money treat it:
``transactional`` (a receipt, an alert the person asked for), ``otp`` (a one-time code: a
transactional message that the pumping guard counts apart, with limits of its own) or
``marketing`` (what they may opt out of and must not get at night). A message says which
(``category``); without it, ``priority="bulk"`` is ``marketing`` and everything else
``transactional``. Pure."""

from __future__ import annotations

__all__ = ["MESSAGE_CATEGORIES", "default_category"]

MESSAGE_CATEGORIES: tuple[str, ...] = ("transactional", "otp", "marketing")


def default_category(priority: str) -> str:
    """The category of a message that names none."""
    return "marketing" if priority == "bulk" else "transactional"
