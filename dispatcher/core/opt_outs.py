"""Opt-outs: which list entries a message is checked against, and what an inbound text asks for.
Pure.

An entry of the opt-out list is found by a digest of the number, never by the number itself, so
the check is one hash lookup in Redis and an erased number's entry (kept so that the opt-out still
holds) carries no number. With ``opt_out.scope = "global"`` there is one entry a number: it
blocks every sender. With ``"sender"`` an entry may also be for one sender (an inbound STOP to one
of our numbers blocks that number's messages only); a message is checked against the entry of its
sender and the entry for every sender. A message without a sender is checked against the latter
only, so under ``sender`` scope a deployment gives its messages a sender
(``messages.default_sender``).

A digest is not a secret: anyone who holds it can find the number by trying each possible one.
It keeps numbers out of key names and lets an erased number stay opted out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

__all__ = [
    "EVERY_SENDER",
    "KeywordAction",
    "keyword_action",
    "message_digests",
    "opt_out_digest",
    "sender_key",
]

# The sender of an entry that blocks every sender.
EVERY_SENDER = ""

KeywordAction = Literal["stop", "start", "help"]


def sender_key(sender: str | None) -> str:
    """A sender as entries are kept under: a number without its ``+`` (``+447700900001`` and
    ``447700900001`` are one sender), a name case-folded; none is every sender."""
    if not sender:
        return EVERY_SENDER
    return sender.strip().lstrip("+").casefold()


def opt_out_digest(number: str, sender: str | None = None) -> str:
    """The field of the opt-out list that holds the entry of ``number`` (E.164) for ``sender``
    (every sender when None or empty)."""
    text = f"opt-out\n{sender_key(sender)}\n{number}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def message_digests(
    number: str, sender: str | None, *, scope: Literal["global", "sender"]
) -> tuple[str, ...]:
    """The entries a message to ``number`` from ``sender`` is checked against, in one lookup."""
    every = opt_out_digest(number)
    if scope == "global" or not sender_key(sender):
        return (every,)
    return (every, opt_out_digest(number, sender))


def keyword_action(
    text: str,
    *,
    stop: Iterable[str],
    start: Iterable[str],
    help_words: Iterable[str],
) -> KeywordAction | None:
    """What an inbound text asks for when the whole of it, trimmed and in any case, is one of
    the keywords: ``stop`` (opt out), ``start`` (opt back in), ``help``; None otherwise (a text
    that only contains a keyword is an ordinary message)."""
    word = " ".join(text.split()).casefold()
    if not word:
        return None
    lists: tuple[tuple[KeywordAction, Iterable[str]], ...] = (
        ("stop", stop),
        ("start", start),
        ("help", help_words),
    )
    for action, words in lists:
        if word in {" ".join(w.split()).casefold() for w in words}:
            return action
    return None
