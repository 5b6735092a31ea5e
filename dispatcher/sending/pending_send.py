"""A claimed message admitted to a provider, between its admission and its conclusion."""

from __future__ import annotations

from dataclasses import dataclass

from dispatcher.store.gates import Admission
from dispatcher.store.messages import Claim
from providers.base import OutboundSms, Provider

__all__ = ["PendingSend"]


@dataclass(frozen=True, slots=True)
class PendingSend:
    """The exchange to make, and what concluding it needs (the claim with its lease, the
    admission, the route order, the attempt's number)."""

    claim: Claim
    provider: Provider
    admission: Admission
    order: tuple[str, ...]
    attempt_number: int
    possible_duplicate: bool
    task_id: str | None
    sms: OutboundSms
    started_at_ms: int
    # What asking the provider for it by our reference, before this send, came to (not_found,
    # lookup_failed), or None when it was not asked.
    reconciled: str | None = None
    # The attempt reported undelivered for a passing reason that this send repeats, if any.
    resend_of: int | None = None
