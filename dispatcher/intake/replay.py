"""Replaying a dead letter: the same message sent again as a new one, with a fresh attempt
budget, through the same enqueue core as every other message."""

from __future__ import annotations

from dispatcher.core.message_record import record_region
from dispatcher.errors import NotADeadLetterError
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.intake.validation import NewMessage

__all__ = ["replay_dead_letter"]


def replay_dead_letter(dispatcher: Dispatcher, message_id: str) -> str:
    """Send a dead letter again as a new message with a fresh attempt budget; returns its id.

    The original leaves the dead letters (once: a second replay of it fails) and records the new
    id in ``replayed_as``; the new message records the original in ``replay_of``. Raises
    :class:`~dispatcher.errors.NotADeadLetterError` when the id is no dead letter.
    """
    store = dispatcher.store
    dead_at_ms = store.dead_lettered_at_ms(message_id)
    found = store.get(message_id) if dead_at_ms is not None else None
    if dead_at_ms is None or found is None:
        raise NotADeadLetterError(message_id)
    original = found[0]
    if not original.body:  # never empty at the door: dropped (dead_letters.keep_body off)
        raise NotADeadLetterError(message_id)
    again = NewMessage(
        to=original.to,
        body=original.body,
        sender=original.sender,
        priority=original.priority,
        validity_s=max((original.valid_until_ms - original.created_at_ms) // 1000, 1),
        encoding=original.encoding,
        segments=original.segments,
        providers=original.providers,
        callback_url=original.callback_url,
        metadata=original.metadata,
        category=original.category,
        smart_encoded=original.smart_encoded,
        region=record_region(original),
    )
    replacement = dispatcher.prepare(again, replay_of=original.id)
    if not store.take_for_replay(original.id, replacement.id):
        raise NotADeadLetterError(message_id)  # replayed or purged meanwhile
    try:
        dispatcher.enqueue_record(replacement)
    except Exception:
        store.return_to_dead_letters(original.id, dead_at_ms)
        raise
    store.drop_body_later(original.id, now_ms=replacement.created_at_ms)  # the copy carries it
    return replacement.id
