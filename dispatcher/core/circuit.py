"""What an attempt says about its provider's health, and what the provider gates answer. Pure.

What counts as a failure for the circuit: ``retryable`` (but a 429, which pauses instead),
``ambiguous`` and ``provider_error`` answers. ``accepted`` and ``rejected`` (the message's own
fault) show a working provider.
"""

from __future__ import annotations

import enum

__all__ = [
    "OUTCOMES",
    "AdmissionVerdict",
    "AttemptClass",
    "CircuitState",
    "circuit_class",
    "rate_cost",
]

# The outcome classes an attempt is counted under (providers.outcome.OutcomeKind values).
OUTCOMES = ("accepted", "retryable", "ambiguous", "rejected", "provider_error")


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class AttemptClass(enum.StrEnum):
    """What one attempt says about its provider's health."""

    SUCCESS = "success"
    FAILURE = "failure"
    TRIP = "trip"  # an account or path error: open at once
    THROTTLED = "throttled"  # a 429: pause, but the provider is not failing


class AdmissionVerdict(enum.StrEnum):
    """Whether an attempt may go through a provider now, and if not, why."""

    GO = "go"
    PAUSED = "paused"  # after a 429
    OPEN = "open"  # the circuit is open
    PROBING = "probing"  # half-open, and its probes are under way
    SATURATED = "saturated"  # the rate limit's next slot is further than the message can wait


def rate_cost(segments: int, *, counts_segments: bool) -> int:
    """What one message costs against a rate limit: its segments where the provider counts
    parts, else 1."""
    return segments if counts_segments else 1


def circuit_class(outcome: str, http_status: int | None) -> AttemptClass:
    """The health class of an attempt's outcome (see the module text)."""
    if http_status == 429:
        return AttemptClass.THROTTLED
    if outcome in ("accepted", "rejected"):
        return AttemptClass.SUCCESS
    if outcome == "provider_error":
        return AttemptClass.TRIP
    return AttemptClass.FAILURE
