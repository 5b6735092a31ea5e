"""sms-dispatch: asynchronous multi-provider SMS dispatch on Celery and Redis.

For web apps::

    import dispatcher

    message_id = dispatcher.send_sms("+14155552671", "Your code is 123456", priority="high")
    dispatcher.get_status(message_id)["state"]  # "queued", "sending", "accepted", ...
"""

from dispatcher.core.states import MessageState
from dispatcher.errors import (
    ConfigError,
    DispatchError,
    EnqueueError,
    IdempotencyConflict,
    InvalidMessage,
    MessageNotFound,
)
from dispatcher.intake.enqueue import Dispatcher, get_status, send_bulk, send_sms
from dispatcher.sending.status_callbacks import verify_signature as verify_callback_signature

__all__ = [
    "ConfigError",
    "DispatchError",
    "Dispatcher",
    "EnqueueError",
    "IdempotencyConflict",
    "InvalidMessage",
    "MessageNotFound",
    "MessageState",
    "get_status",
    "send_bulk",
    "send_sms",
    "verify_callback_signature",
]
