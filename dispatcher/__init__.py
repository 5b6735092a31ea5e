"""sms-dispatch: asynchronous multi-provider SMS dispatch on Celery and Redis.

For web apps::

    import dispatcher

    message_id = dispatcher.send_sms("+14155552671", "Your code is 123456", priority="high")
    dispatcher.get_status(message_id)["state"]  # "queued", "sending", "accepted", ...

``import dispatcher`` loads the error classes and states only; the enqueue core (Celery's app
configuration, the Redis client) is loaded on the first use of ``send_sms``, ``send_bulk``,
``get_status`` or ``Dispatcher``. Nothing of the worker is loaded, and nothing connects, until a
message is sent.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dispatcher.core.states import MessageState
from dispatcher.core.status_callback import verify_signature as verify_callback_signature
from dispatcher.errors import (
    ConfigError,
    DispatchError,
    EnqueueError,
    IdempotencyConflict,
    InvalidMessage,
    MessageNotFound,
    NotADeadLetterError,
    NotCancelable,
    OptedOut,
    Refused,
    StoreError,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    from dispatcher.intake.enqueue import (
        Dispatcher,
        add_opt_out,
        cancel,
        cancel_campaign,
        erase_number,
        get_status,
        is_opted_out,
        remove_opt_out,
        report_conversion,
        send_bulk,
        send_sms,
    )

__all__ = [
    "ConfigError",
    "DispatchError",
    "Dispatcher",
    "EnqueueError",
    "IdempotencyConflict",
    "InvalidMessage",
    "MessageNotFound",
    "MessageState",
    "NotADeadLetterError",
    "NotCancelable",
    "OptedOut",
    "Refused",
    "StoreError",
    "StoreUnavailableError",
    "add_opt_out",
    "cancel",
    "cancel_campaign",
    "erase_number",
    "get_status",
    "is_opted_out",
    "remove_opt_out",
    "report_conversion",
    "send_bulk",
    "send_sms",
    "verify_callback_signature",
]

# The names of the enqueue core, loaded on first use.
_ENQUEUE_NAMES = frozenset(
    {
        "Dispatcher",
        "add_opt_out",
        "cancel",
        "cancel_campaign",
        "erase_number",
        "get_status",
        "is_opted_out",
        "remove_opt_out",
        "report_conversion",
        "send_bulk",
        "send_sms",
    }
)


def __getattr__(name: str) -> Any:
    if name in _ENQUEUE_NAMES:
        value = getattr(importlib.import_module("dispatcher.intake.enqueue"), name)
        globals()[name] = value  # found directly from now on
        return value
    raise AttributeError(f"module 'dispatcher' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
