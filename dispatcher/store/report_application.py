"""A delivery report applied to its message, pushed (the API) or looked up (the poller) alike:
an undelivered one for a reason its provider documents as passing first asks the resend rules
(:mod:`dispatcher.core.report_resend`) whether the message goes once more through another
provider, and the script that applies the report then sends it there instead of ending it."""

from __future__ import annotations

from dispatcher.core.report_resend import ResendRules
from dispatcher.logs import scrub
from dispatcher.store.messages import MessageStore
from providers.base import DeliveryReport

__all__ = ["apply_delivery_report"]


def apply_delivery_report(
    store: MessageStore,
    message_id: str,
    provider: str,
    report: DeliveryReport,
    *,
    rules: ResendRules | None,
    now_ms: int,
) -> str:
    """Apply ``report`` (from ``provider``) to ``message_id``; what came of it (``applied``,
    ``resent``, ``same``, ``pending``, ...: ``apply_report.lua``)."""
    leaving: tuple[str, ...] | None = None
    if (
        rules is not None
        and report.status == "undelivered"
        and report.temporary
        and rules.applies_to(provider)
    ):
        found = store.get(message_id)
        record = found[0] if found else None
        if record is not None and rules.next_provider(
            record, provider, temporary=True, now_ms=now_ms
        ):
            leaving = (*record.providers_left, provider)
    return store.apply_report(
        message_id,
        provider=provider,
        state=report.status,
        provider_status=report.provider_status,
        reason=scrub(report.reason or ""),
        now_ms=now_ms,
        resend_leaving=leaving,
    )
