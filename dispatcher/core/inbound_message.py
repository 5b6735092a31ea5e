"""An inbound text (mobile-originated) as it is kept, shown and forwarded. Pure.

The record holds the sender's number in full (to forward it, and to find it for erasure); every
view of it masks the number. The text is kept apart, only for ``inbound.retention_s``. The
callback to ``inbound.callback_url`` carries the number and the text in full: it is how the web
app learns who wrote what, signed as status callbacks are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from dispatcher.core.masking import mask_number

__all__ = ["INBOUND_EVENT", "InboundMessage", "inbound_callback_body"]

# The "state" of an inbound message's callback in the callback queue ("<id>|inbound").
INBOUND_EVENT = "inbound"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One inbound text, as recorded."""

    id: str
    provider: str
    provider_message_id: str
    from_number: str  # E.164
    to: str  # our number (or short code) it was sent to
    received_at_ms: int
    text: str | None = None  # None once inbound.retention_s has passed
    keyword: str = ""  # stop | start | help, when the whole text was one of the keywords
    part: str = ""  # "<reference>:<part>/<parts>" for one part of a long text
    callback_failed: bool = False

    def to_hash(self) -> dict[str, str]:
        """The record's Redis hash fields (the text is kept apart)."""
        return {
            "id": self.id,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "from": self.from_number,
            "to": self.to,
            "received_at_ms": str(self.received_at_ms),
            "keyword": self.keyword,
            "part": self.part,
        }

    @classmethod
    def from_hash(cls, raw: dict[str, str], text: str | None) -> InboundMessage:
        return cls(
            id=raw["id"],
            provider=raw.get("provider", ""),
            provider_message_id=raw.get("provider_message_id", ""),
            from_number=raw.get("from", ""),
            to=raw.get("to", ""),
            received_at_ms=int(raw.get("received_at_ms", "0")),
            text=text,
            keyword=raw.get("keyword", ""),
            part=raw.get("part", ""),
            callback_failed=raw.get("callback_failed") == "1",
        )

    def public_view(self) -> dict[str, Any]:
        """What operators see (API, CLI): the sender masked, the text while it is kept."""
        return {
            "id": self.id,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "from": mask_number(self.from_number),
            "to": self.to,
            "received_at_ms": self.received_at_ms,
            "text": self.text,
            "keyword": self.keyword or None,
            "part": self.part or None,
            "callback_failed": self.callback_failed,
        }


def inbound_callback_body(message: InboundMessage, *, event_id: str, now_ms: int) -> bytes:
    """The JSON posted to ``inbound.callback_url`` for one inbound text."""
    document: dict[str, Any] = {
        "event_id": event_id,
        "event": INBOUND_EVENT,
        "inbound_id": message.id,
        "provider": message.provider,
        "provider_message_id": message.provider_message_id,
        "from": message.from_number,
        "to": message.to,
        "text": message.text,
        "keyword": message.keyword or None,
        "part": message.part or None,
        "received_at_ms": message.received_at_ms,
        "sent_at_ms": now_ms,
    }
    return json.dumps(document, separators=(",", ":")).encode()
