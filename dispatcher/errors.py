"""The error tree of sms-dispatch.

::

    DispatchError
    ├── InvalidMessage        bad input at the door; ``fields`` maps each bad field to the reason
    ├── IdempotencyConflict   the same idempotency key came with different content
    ├── Refused               a guard refused the message at the door: ``code`` says which
    │   └── OptedOut          the number is on the opt-out list: the message was not taken
    ├── MessageNotFound       no message has that id
    ├── NotCancelable         the message is being sent, accepted or final: it was not touched
    ├── ConfigError           the configuration cannot work; names the setting (and env variable)
    ├── EnqueueError          the message was valid but could not be recorded or published
    ├── NotADeadLetterError   the id names no message in the dead letters
    ├── ServiceStartError     a server the local stack runs (the embedded Redis) did not start
    └── StoreError            the message store (Redis) failed a command
        └── StoreUnavailableError       it could not be reached or is not ready: try again
            └── StoreAuthenticationError  it refused the credentials of the Redis URL

Redis errors never leave :mod:`dispatcher.store`: they are translated there
(:func:`dispatcher.store.connection.store_error`), the original kept as ``__cause__``.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "ConfigError",
    "DispatchError",
    "EnqueueError",
    "IdempotencyConflict",
    "InvalidMessage",
    "MessageNotFound",
    "NotADeadLetterError",
    "NotCancelable",
    "OptedOut",
    "Refused",
    "ServiceStartError",
    "StoreAuthenticationError",
    "StoreError",
    "StoreNotReplicatedError",
    "StoreOutOfMemoryError",
    "StoreUnavailableError",
]


class DispatchError(Exception):
    """Root of every error sms-dispatch raises on purpose."""


class InvalidMessage(DispatchError):  # noqa: N818 - the public name of DESIGN.md
    """The message was refused at the door; nothing was recorded or published."""

    def __init__(self, fields: Mapping[str, str]) -> None:
        self.fields = dict(fields)
        detail = "; ".join(f"{name}: {reason}" for name, reason in self.fields.items())
        super().__init__(f"invalid message: {detail}")


class IdempotencyConflict(DispatchError):  # noqa: N818 - the public name of DESIGN.md
    """An idempotency key was reused with different content."""

    def __init__(self, idempotency_key: str, message_id: str) -> None:
        self.idempotency_key = idempotency_key
        self.message_id = message_id
        super().__init__(
            f"idempotency key already used for message {message_id} with different content"
        )


class Refused(DispatchError):  # noqa: N818 - reads as the condition it is
    """A guard refused the message at the door; nothing was recorded or published.

    ``code`` names the guard (``country_not_allowed``, ``destination_rate_limited``,
    ``opted_out``), ``field`` the field it judged (``to``), ``limit`` which limit was reached,
    and ``retry_after_s`` when a message like it may be taken again (None: not by waiting).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        field: str = "to",
        limit: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        self.code = code
        self.field = field
        self.limit = limit
        self.retry_after_s = retry_after_s
        super().__init__(message)

    def details(self) -> dict[str, object]:
        """The refusal as the HTTP API and ``send_bulk`` report it, beside its code and text."""
        found: dict[str, object] = {"field": self.field}
        if self.limit is not None:
            found["limit"] = self.limit
        if self.retry_after_s is not None:
            found["retry_after_s"] = self.retry_after_s
        return found


class OptedOut(Refused):
    """The number is on the opt-out list for this message; nothing was recorded or published.
    ``to`` is the number masked."""

    def __init__(self, to: str) -> None:
        self.to = to
        super().__init__(
            "opted_out", f"{to} has opted out of these messages; the message was not taken"
        )


class MessageNotFound(DispatchError):  # noqa: N818 - reads as the condition it is
    """No message is recorded under this id."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        super().__init__(f"no message with id {message_id!r}")


class NotCancelable(DispatchError):  # noqa: N818 - reads as the condition it is
    """Only a message still ``queued``, ``scheduled`` or ``retry_scheduled`` can be canceled;
    ``state`` is the one it is in."""

    def __init__(self, message_id: str, state: str) -> None:
        self.message_id = message_id
        self.state = state
        super().__init__(f"message {message_id} is {state}: it can no longer be canceled")


class ConfigError(DispatchError):
    """The configuration cannot work."""

    def __init__(self, setting: str, reason: str, *, env_var: str | None = None) -> None:
        self.setting = setting
        self.reason = reason
        self.env_var = env_var
        hint = f" (set the environment variable {env_var})" if env_var else ""
        super().__init__(f"config {setting}: {reason}{hint}")


class EnqueueError(DispatchError):
    """A valid message could not be recorded or its job published; nothing was kept."""


class NotADeadLetterError(DispatchError):
    """The id names no message in the dead letters (never was, or replayed or purged)."""

    def __init__(self, message_id: str) -> None:
        self.message_id = message_id
        super().__init__(f"{message_id} is not in the dead letters")


class ServiceStartError(DispatchError):
    """A server the local stack runs itself did not start; the message says where to look."""


class StoreError(DispatchError):
    """The message store (Redis) failed a command; ``error`` names what Redis raised."""

    def __init__(self, error: str, detail: str) -> None:
        self.error = error
        self.detail = detail
        super().__init__(f"the message store failed ({error}: {detail})")

    def __reduce__(self) -> tuple[type[StoreError], tuple[str, str]]:
        # Made again from its two fields (where Celery or a pool copies an exception).
        return type(self), (self.error, self.detail)


class StoreUnavailableError(StoreError):
    """The message store could not be reached, timed out, or is still loading: a later try may
    succeed."""


class StoreNotReplicatedError(StoreUnavailableError):
    """A write the master made reached fewer replicas than asked within the wait: it may be lost
    if the master fails now (it may as well be kept: it is on the master)."""

    def __init__(self, confirmed: int, wanted: int, timeout_ms: int) -> None:
        self.confirmed = confirmed
        self.wanted = wanted
        super().__init__(
            "NotReplicated",
            f"{confirmed} of {wanted} replicas confirmed the write within {timeout_ms} ms",
        )


class StoreOutOfMemoryError(StoreUnavailableError):
    """Redis is at its ``maxmemory`` and refuses writes (``noeviction``): nothing of the command
    (or the script) was written, and the same write may succeed once memory is freed."""


class StoreAuthenticationError(StoreUnavailableError):
    """The message store refused the password of the Redis URL."""
