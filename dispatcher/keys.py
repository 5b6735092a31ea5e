"""Every Redis key sms-dispatch writes, in one place."""

from __future__ import annotations

import hashlib

__all__ = ["attempts_key", "idempotency_key", "lease_key", "message_key"]

PREFIX = "smsd"


def message_key(message_id: str) -> str:
    """Hash: the message record (state, destination, body, provider, ...)."""
    return f"{PREFIX}:msg:{message_id}"


def attempts_key(message_id: str) -> str:
    """List: one JSON document per attempt, oldest first."""
    return f"{PREFIX}:msg:{message_id}:attempts"


def lease_key(message_id: str) -> str:
    """String with a TTL: the token of the worker sending this message right now."""
    return f"{PREFIX}:lease:{message_id}"


def idempotency_key(key: str) -> str:
    """String with a TTL: the message id an idempotency key was first used for.

    The caller's key is hashed, so its length and characters do not reach Redis key space.
    """
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{PREFIX}:idem:{digest}"
