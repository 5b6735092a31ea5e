"""Resend on a temporary delivery failure: whether an ``undelivered`` report sends the message
once more, and through which provider. Pure.

Opt-in: for every route (``routes.resend_on_undelivered``), for the routes named in
``routes.resend_on_undelivered_routes`` (prefixes such as ``"44"``, and ``"default"``), or for
the reporting provider (``providers.NAME.resend_on_undelivered``). A report the provider
documents as a passing failure (``DeliveryReport.temporary``: Sinch codes 404 and 406, Twilio
30001/30003/30008, Vonage err-codes 2/7/8) sends the message once more through the next provider
of its route that it has not left, while it is still valid, and only once per message. A
permanent reason (an unknown or barred number), or one a provider does not document, never
does: the message ends ``undelivered``.
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
    routes: frozenset[str] = frozenset()  # route prefixes (and "default") that resend

    def applies_to(self, provider: str) -> bool:
        """Whether ``provider``'s temporary failures may resend on some route."""
        return self.every_route or provider in self.providers or bool(self.routes)

    def _opted_in(self, record: MessageRecord, reporting: str) -> bool:
        if self.every_route or reporting in self.providers:
            return True
        if record.providers or not self.routes:  # a message's own list is no configured route
            return False
        digits = record.to.lstrip("+")
        matches = [p for p in self.prefixes if digits.startswith(p)]
        return (max(matches, key=len) if matches else "default") in self.routes

    def next_provider(
        self, record: MessageRecord, reporting: str, *, temporary: bool, now_ms: int
    ) -> str | None:
        """The provider to send ``record`` through once more after ``reporting`` said it was
        not delivered, or None (not opted in, a permanent reason, resent before, no longer
        valid, or no provider of its route left)."""
        if not (temporary and self._opted_in(record, reporting)):
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
