"""Delivery reports from providers: authenticate, read, and move messages to their final state.

A callback to ``/v1/delivery-reports/{provider}`` is checked the way that provider supports:
Twilio's ``X-Twilio-Signature`` and Sinch's HMAC headers (with ``webhook_secret`` set) are
verified by the adapter; the other providers' callbacks must carry the configured
``delivery_reports.secret`` as ``?token=``. Each report in the body is matched to its message by
our id where the provider echoes it (Sinch ``client_reference``), else by the provider's message
id recorded when the send was accepted, and applied once: an ``accepted`` message moves to
``delivered`` or ``undelivered``, a repeat changes nothing, a dead letter keeps its state but
shows the report, and a report for a message whose acceptance is not recorded yet is refused
with 503 so the provider sends it again.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any

from dispatcher.core.clock import now_ms
from dispatcher.core.report_resend import ResendRules
from dispatcher.logs import get_logger
from dispatcher.store.messages import MessageStore
from dispatcher.store.report_application import apply_delivery_report
from providers.base import DeliveryReport, InboundReport, Provider, SignedReports

__all__ = ["ReportAnswer", "authenticate", "check_token", "receive_reports", "refusal"]

RETRY_AFTER_S = 5


@dataclass(frozen=True, slots=True)
class ReportAnswer:
    """What the API answers the provider."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def refusal(status: int, code: str, message: str) -> ReportAnswer:
    """A refusal to a provider's callback: ``{"error": {"code", "message"}}``."""
    return ReportAnswer(status, {"error": {"code": code, "message": message}})


def authenticate(provider: Provider, report: InboundReport, secret: str) -> ReportAnswer | None:
    """None when the callback is authentic, else the refusal."""
    if isinstance(provider, SignedReports) and provider.signs_reports:
        if provider.verify_report(report):
            return None
        return refusal(401, "bad_signature", f"the {provider.name} callback signature is not valid")
    return check_token(report, secret)


def check_token(report: InboundReport, secret: str) -> ReportAnswer | None:
    """None when an unsigned callback's URL carries the deployment's token, else the refusal."""
    token = report.query.get("token", "")
    if not secret:
        return refusal(
            401,
            "unauthorized",
            "callbacks of this provider need SMSD_DELIVERY_REPORTS__SECRET set, "
            "and its callback URL to carry ?token=<that secret>",
        )
    if not hmac.compare_digest(token.encode(), secret.encode()):
        return refusal(401, "unauthorized", "the callback URL's token is missing or wrong")
    return None


def _message_id(store: MessageStore, provider: str, report: DeliveryReport) -> str | None:
    if report.client_reference and store.get(report.client_reference) is not None:
        return report.client_reference
    if report.provider_message_id:
        return store.find_by_provider_id(provider, report.provider_message_id)
    return None


def receive_reports(
    provider: Provider,
    report: InboundReport,
    *,
    store: MessageStore,
    secret: str,
    resend: ResendRules | None = None,
) -> ReportAnswer:
    """Authenticate one callback and apply every report in it (an undelivered one for a passing
    reason sends the message once more where ``resend`` says so)."""
    refused = authenticate(provider, report, secret)
    if refused is not None:
        return refused
    found = provider.read_delivery_report(report)
    if not found:
        return refusal(422, "not_a_report", f"the body is not a {provider.name} delivery report")
    counts: dict[str, int] = {}
    now = now_ms()
    for item in found:
        message_id = _message_id(store, provider.name, item)
        outcome = "unknown"
        if message_id is not None:
            outcome = apply_delivery_report(
                store, message_id, provider.name, item, rules=resend, now_ms=now
            )
        counts[outcome] = counts.get(outcome, 0) + 1
        get_logger(message_id=message_id, provider=provider.name).info(
            "sms.delivery_report",
            status=item.status,
            provider_status=item.provider_status,
            outcome=outcome,
        )
    if counts.get("not_accepted"):
        return ReportAnswer(
            503,
            {"error": {"code": "not_yet", "message": "a message is not recorded as accepted yet"}},
            {"Retry-After": str(RETRY_AFTER_S)},
        )
    return ReportAnswer(200, {"reports": len(found), "outcomes": counts})
