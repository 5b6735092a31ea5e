"""What a status callback to a web app's ``callback_url`` says, and how it is signed. Pure.

The body is JSON (:func:`callback_body`): the message's id, the state it reached, the number
masked, never the body. With ``callbacks.secret`` set, the header ``X-SmsDispatch-Signature:
sha256=<hex>`` carries HMAC-SHA256(secret, body); a web app checks it with
:func:`verify_signature` (``dispatcher.verify_callback_signature``). ``event_id`` is the same on
every retry of one callback, so a receiver can drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from dispatcher.core.masking import mask_number
from dispatcher.core.message_record import MessageRecord

__all__ = ["SIGNATURE_HEADER", "callback_body", "sign", "verify_signature"]

SIGNATURE_HEADER = "X-SmsDispatch-Signature"


def sign(secret: str, body: bytes) -> str:
    """The ``X-SmsDispatch-Signature`` value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` (the ``X-SmsDispatch-Signature`` received) signs ``body``."""
    return bool(header) and hmac.compare_digest(sign(secret, body), header or "")


def callback_body(record: MessageRecord, state: str, *, event_id: str, now_ms: int) -> bytes:
    """The JSON posted for ``record`` reaching ``state``; the number masked, no body."""
    document: dict[str, Any] = {
        "event_id": event_id,
        "message_id": record.id,
        "state": state,
        "to": mask_number(record.to),
        "provider": record.provider,
        "provider_message_id": record.provider_message_id,
        "segments": record.segments,
        "attempt_count": record.attempt_count,
        "final_reason": record.final_reason,
        "final_detail": record.final_detail,
        "possible_duplicate": record.possible_duplicate,
        "metadata": record.metadata,
        "sent_at_ms": now_ms,
    }
    return json.dumps(document, separators=(",", ":")).encode()
