"""A message record for tests: one GSM-7 segment to +14155552671, queued, valid for a minute
from ``at_ms``; a test names only the fields it cares about."""

from __future__ import annotations

from typing import Any

from dispatcher.core.message_record import MessageRecord
from dispatcher.core.states import MessageState


def a_record(message_id: str = "01TEST", *, at_ms: int = 0, **fields: Any) -> MessageRecord:
    """The record ``message_id``, created at ``at_ms``, with ``fields`` in place of the rest."""
    plain: dict[str, Any] = {
        "id": message_id,
        "to": "+14155552671",
        "body": "hi",
        "sender": None,
        "priority": "normal",
        "encoding": "GSM-7",
        "segments": 1,
        "state": MessageState.QUEUED,
        "created_at_ms": at_ms,
        "updated_at_ms": at_ms,
        "valid_until_ms": at_ms + 60_000,
    }
    return MessageRecord(**{**plain, **fields})
