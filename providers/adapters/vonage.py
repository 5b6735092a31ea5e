"""Vonage SMS API adapter.

References (``API.md``; developer.vonage.com/en/api/sms, "Send an SMS" and "Delivery receipts";
developer.vonage.com/en/messaging/sms/guides/troubleshooting-sms):
- Send: ``POST {base}/sms/json``, form-encoded ``api_key``, ``api_secret``, ``from``, ``to`` (E.164
  digits without ``+``), ``text``; ``type=unicode`` for text outside GSM-7; ``client-ref`` (our
  message id, echoed in receipts); ``ttl`` (milliseconds the message stays deliverable).
- The answer is always ``200 {"message-count", "messages": [{"to", "message-id", "status",
  "error-text"}]}``: ``status`` "0" accepted; 1 throttled and 5 internal error retryable; 2 missing
  parameters, 3 invalid parameters, 6 invalid message and 7 number barred are about the message;
  4 invalid credentials, 8 account barred and 9 quota exceeded are about our account.
- Delivery receipts: JSON with ``messageId``, ``msisdn``, ``status`` (delivered, expired, failed,
  rejected, accepted, buffered, unknown), ``err-code`` and ``client-ref``.

Inbound texts (developer.vonage.com/messaging/sms/guides/inbound-sms): the inbound webhook as POST
(form) or POST-JSON (the dashboard's "Webhook Format"; GET is not taken here): ``msisdn`` (the
sender, digits), ``to``, ``messageId``, ``text``, ``type`` (text, unicode, binary), and for a long
text posted part by part ``concat-ref``, ``concat-part``, ``concat-total``. A binary one carries no
text and is not read. Vonage resends for 24 h until it gets a 200 or 204. Vonage's own ``sig``
signing is not checked here: its inbound URL carries the deployment's token, as its receipts'.

Choices: a status code not in that list is ``rejected`` (the body says it was not accepted, and it
cannot be told safe to retry); a 200 whose body has no ``messages`` is ``ambiguous``, and so is any
other 2xx that does not carry them (the body is the truth, never the status); any other HTTP
status (a proxy's 502, say) is classified by status.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from providers.base import (
    ConfiguredAdapter,
    DeliveryReport,
    HttpAnswer,
    HttpRequest,
    InboundAnswer,
    InboundReport,
    InboundSms,
    OutboundSms,
    ReportStatus,
    e164_of,
    json_object,
)
from providers.outcome import (
    PROVIDER_FAULT,
    REJECT,
    RETRY,
    OutcomeKind,
    Rule,
    Scope,
    Verdict,
    classify_error,
)

__all__ = [
    "REPORT_STATUSES",
    "STATUS_CODES",
    "TEMPORARY_ERROR_CODES",
    "VonageProvider",
    "VonageSettings",
]

STATUS_CODES: dict[str, Rule] = {
    "1": RETRY,  # throttled
    "2": REJECT,  # missing parameters
    "3": REJECT,  # invalid parameters
    "4": PROVIDER_FAULT,  # invalid credentials
    "5": RETRY,  # internal error
    "6": REJECT,  # invalid message
    "7": REJECT,  # number barred
    "8": PROVIDER_FAULT,  # partner account barred
    "9": PROVIDER_FAULT,  # partner quota exceeded
}

REPORT_STATUSES: dict[str, ReportStatus] = {
    "delivered": "delivered",
    "accepted": "pending",
    "buffered": "pending",
    "expired": "undelivered",
    "failed": "undelivered",
    "rejected": "undelivered",
    "unknown": "undelivered",
}


# Delivery receipt err-codes Vonage documents as passing (developer.vonage.com, SMS delivery
# receipts): 2 absent subscriber (temporary), 7 handset busy, 8 network error. 3 (absent
# subscriber, permanent), 4 and 14 (barred), 9 (illegal number), 11 (unroutable) and the
# content filters are not.
TEMPORARY_ERROR_CODES = frozenset({"2", "7", "8"})


@dataclass(frozen=True, slots=True)
class VonageSettings:
    name: str
    api_key: str
    api_secret: str
    base_url: str = "https://rest.nexmo.com"
    sender: str | None = None
    timeout_s: float = 10.0


class VonageProvider(ConfiguredAdapter[VonageSettings]):
    """One SMS per request; the ``status`` inside the always-200 answer decides."""

    def __init__(self, settings: VonageSettings) -> None:
        self._settings = settings
        self._url = f"{settings.base_url.rstrip('/')}/sms/json"

    def redacted_secrets(self) -> tuple[str, ...]:
        return (self._settings.api_secret,)

    def build_send(self, sms: OutboundSms) -> HttpRequest:
        form = {
            "api_key": self._settings.api_key,
            "api_secret": self._settings.api_secret,
            "to": sms.to_e164.lstrip("+"),
            "text": sms.body,
            "client-ref": sms.message_id,
        }
        sender = sms.sender or self._settings.sender
        if sender:
            form["from"] = sender
        if sms.encoding == "UCS-2":
            form["type"] = "unicode"
        if sms.valid_until_ms is not None:
            remaining_ms = sms.valid_until_ms - int(time.time() * 1000)
            form["ttl"] = str(max(20_000, min(remaining_ms, 604_800_000)))
        return HttpRequest("POST", self._url, form=form)

    def read_send_answer(self, answer: HttpAnswer) -> Verdict:
        document = json_object(answer.body)
        if not 200 <= answer.status < 300:
            return classify_error(
                answer.status,
                answer.headers,
                rule=None,
                reason=f"http_{answer.status}",
                provider_code=None,
            )
        first = _first_message(document)
        if first is None:
            return Verdict(OutcomeKind.AMBIGUOUS, Scope.PROVIDER, reason="http_200_no_messages")
        status = str(first.get("status", ""))
        text = first.get("error-text")
        if status == "0":
            message_id = first.get("message-id")
            if isinstance(message_id, str) and message_id:
                return Verdict(OutcomeKind.ACCEPTED, reason="0", provider_message_id=message_id)
            return Verdict(OutcomeKind.AMBIGUOUS, Scope.PROVIDER, reason="status_0_without_id")
        rule = STATUS_CODES.get(status, REJECT)
        return Verdict(
            rule.kind,
            rule.scope,
            reason=text if isinstance(text, str) and text else f"status {status}",
            provider_code=status or None,
        )

    def read_inbound(self, report: InboundReport) -> list[InboundSms]:
        fields = _inbound_fields(report)
        sender, to, sid, text = (fields.get(k) for k in ("msisdn", "to", "messageId", "text"))
        if not all(isinstance(v, str) and v for v in (sender, to, sid)):
            return []
        if fields.get("type") == "binary" or not isinstance(text, str) or "status" in fields:
            return []
        return [
            InboundSms(
                provider_message_id=str(sid),
                from_number=e164_of(str(sender)),
                to=e164_of(str(to)),
                text=text,
                part=_part(fields),
            )
        ]

    def verify_inbound(self, report: InboundReport) -> bool | None:
        return None  # the inbound URL carries the deployment's token

    def inbound_answer(self) -> InboundAnswer:
        return InboundAnswer()

    def read_delivery_report(self, report: InboundReport) -> list[DeliveryReport]:
        document = json_object(report.body) or dict(report.query)
        status = document.get("status")
        message_id = document.get("messageId")
        if not isinstance(status, str) or status not in REPORT_STATUSES:
            return []
        if not isinstance(message_id, str):
            return []
        ours = REPORT_STATUSES[status]
        error = document.get("err-code")
        reference = document.get("client-ref")
        return [
            DeliveryReport(
                status=ours,
                provider_status=status,
                provider_message_id=message_id,
                client_reference=reference if isinstance(reference, str) else None,
                reason=f"{status} (err-code {error})" if ours == "undelivered" else None,
                recipient=document.get("msisdn")
                if isinstance(document.get("msisdn"), str)
                else None,
                temporary=ours == "undelivered" and str(error) in TEMPORARY_ERROR_CODES,
            )
        ]


def _inbound_fields(report: InboundReport) -> dict[str, Any]:
    """An inbound post's fields, whether JSON or a form."""
    document = json_object(report.body)
    if document is not None:
        return document
    return dict(parse_qsl(report.body.decode("utf-8", "replace"), keep_blank_values=True))


def _part(fields: dict[str, Any]) -> tuple[str, int, int] | None:
    """A long text's part: (reference, part, parts), when Vonage posts it part by part."""
    reference, part, parts = (fields.get(k) for k in ("concat-ref", "concat-part", "concat-total"))
    if reference is None or str(fields.get("concat", "")).lower() not in ("true", "1"):
        return None
    try:
        return str(reference), int(str(part)), int(str(parts))
    except ValueError:
        return None


def _first_message(document: dict[str, Any] | None) -> dict[str, Any] | None:
    messages = document.get("messages") if document else None
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        return messages[0]
    return None
