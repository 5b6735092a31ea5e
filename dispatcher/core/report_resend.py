"""Resend on a temporary delivery failure: whether an ``undelivered`` report sends the message
once more, and through which provider. Pure.

Opt-in (``resend_on_undelivered``, for every route under ``[routes]`` or for the reporting
provider). A report the provider documents as a passing failure (``DeliveryReport.temporary``:
Sinch codes 404 and 406, Twilio 30001/30003/30008, Vonage err-codes 2/7/8) sends the message once
more through the next provider of its route that it has not left, while it is still valid, and
only once per message. A permanent reason (an unknown or barred number), or one a provider does
not document, never does: the message ends ``undelivered``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from dispatcher.core.message_record import MessageRecord
from dispatcher.core.routing import Route, route_for

__all__ = ["ResendRules"]


@dataclass(frozen=True, slots=True)
class ResendRules:
    """What decides a resend after a report: who opted in, and the routes."""

    every_route: bool
    providers: frozenset[str]  # providers whose temporary failures resend on any route
    prefixes: Mapping[str, Route]
    default: Route
    enabled: Collection[str]

    def applies_to(self, provider: str) -> bool:
        """Whether ``provider``'s temporary failures may resend at all."""
        return self.every_route or provider in self.providers

    def next_provider(
        self, record: MessageRecord, reporting: str, *, temporary: bool, now_ms: int
    ) -> str | None:
        """The provider to send ``record`` through once more after ``reporting`` said it was
        not delivered, or None (not opted in, a permanent reason, resent before, no longer
        valid, or no provider of its route left)."""
        if not (temporary and self.applies_to(reporting)):
            return None
        if record.resend_of_attempt is not None or now_ms >= record.valid_until_ms:
            return None
        route = route_for(
            record.to,
            override=record.providers,
            prefixes=self.prefixes,
            default=self.default,
            enabled=self.enabled,
        )
        left = {*record.providers_left, reporting}
        return next((name for name in route.providers if name not in left), None)
