"""The retry policy: exponential backoff with full jitter. Pure: no I/O, no clock.

``delay_s(n)`` for the n-th retry is drawn uniformly from ``[0, min(cap_s, base_s * 2**(n-1))]``
("full jitter", which spreads a burst of failures best). A ``Retry-After`` from the provider is a
floor: the next attempt is never earlier than it asks. Whether the delay still fits in the message's
validity is decided by :mod:`dispatcher.core.decisions`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RetryPolicy", "resolve_policy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how far apart a message is tried again."""

    base_s: float = 1.0
    cap_s: float = 300.0
    max_attempts: int = 8

    def __post_init__(self) -> None:
        if self.base_s <= 0 or self.cap_s < self.base_s or self.max_attempts < 1:
            raise ValueError("retry policy needs base_s > 0, cap_s >= base_s and max_attempts >= 1")

    def ceiling_s(self, retry_number: int) -> float:
        """The largest delay of the ``retry_number``-th retry (1 for the first)."""
        exponent = min(max(retry_number - 1, 0), 62)  # 2**62 * base is past any cap
        return min(self.cap_s, self.base_s * (2.0**exponent))

    def delay_s(
        self,
        retry_number: int,
        *,
        retry_after_s: float | None = None,
        rand: Callable[[], float] = random.random,
    ) -> float:
        """The wait before the ``retry_number``-th retry, never shorter than ``retry_after_s``."""
        jittered = rand() * self.ceiling_s(retry_number)
        if retry_after_s is not None:
            return max(jittered, retry_after_s)
        return jittered

    def has_attempts_left(self, attempts_made: int) -> bool:
        """Whether another attempt is allowed after ``attempts_made`` attempts."""
        return attempts_made < self.max_attempts


def resolve_policy(
    default: RetryPolicy,
    provider: RetryPolicy | None = None,
    message: RetryPolicy | None = None,
) -> RetryPolicy:
    """The policy in force: the message's own, else the provider's, else the default."""
    return message or provider or default
