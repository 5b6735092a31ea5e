"""Message states and which of them end the sending."""

from __future__ import annotations

import enum

__all__ = ["CALLBACK_STATES", "CANCELABLE", "NOT_TO_BE_SENT", "MessageState"]


class MessageState(enum.StrEnum):
    """``queued → sending → accepted → delivered | undelivered | delivery_unknown``;
    ``sending → retry_scheduled``; terminal failures ``failed`` and ``expired``. A message sent
    with ``send_at`` starts ``scheduled`` and is claimed no earlier than its time; one still
    ``queued``, ``scheduled`` or ``retry_scheduled`` may be ``canceled`` (final).

    ``delivery_unknown``: accepted, and no final delivery report came within
    ``delivery_reports.timeout_s``; a report that comes later still moves it on."""

    QUEUED = "queued"
    SCHEDULED = "scheduled"
    SENDING = "sending"
    RETRY_SCHEDULED = "retry_scheduled"
    ACCEPTED = "accepted"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    DELIVERY_UNKNOWN = "delivery_unknown"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELED = "canceled"


# A job for a message in one of these states is acknowledged without calling any provider.
NOT_TO_BE_SENT = frozenset(
    {
        MessageState.ACCEPTED,
        MessageState.DELIVERED,
        MessageState.UNDELIVERED,
        MessageState.DELIVERY_UNKNOWN,
        MessageState.FAILED,
        MessageState.EXPIRED,
        MessageState.CANCELED,
    }
)

# A message in one of these states has not been handed to a sender and may be canceled.
CANCELABLE = frozenset({MessageState.QUEUED, MessageState.SCHEDULED, MessageState.RETRY_SCHEDULED})

# A message with a callback_url gets one status callback on reaching each of these states.
CALLBACK_STATES = NOT_TO_BE_SENT
