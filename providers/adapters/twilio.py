"""Twilio Programmable Messaging adapter.

References (``API.md``; twilio.com/docs/messaging/api/message-resource#create-a-message-resource,
twilio.com/docs/api/errors, twilio.com/docs/usage/webhooks/webhooks-security):
- Send: ``POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json``, Basic auth
  ``AccountSid:AuthToken``, form fields ``To`` (E.164 with ``+``), ``From`` or
  ``MessagingServiceSid``, ``Body``, optional ``StatusCallback`` and ``ValidityPeriod`` (seconds).
- Success: ``201`` with the message resource; ``sid`` (``SM…``) is the provider message id.
- Errors: JSON ``{"code": <Twilio error code>, "message", "more_info", "status"}``.
- Status callbacks: form-encoded ``MessageSid``, ``MessageStatus`` (queued, sending, sent,
  delivered, undelivered, failed, ...), ``ErrorCode``; signed with ``X-Twilio-Signature`` =
  Base64(HMAC-SHA1(auth token, URL + each POST parameter name and value, sorted by name)).

Error codes read (others fall back to the status): 20003 authentication and 20404 not found are
about the account (``provider_error``); 20429 too many requests is ``retryable``; 21211 invalid
``To``, 21610 unsubscribed recipient, 21612 unreachable ``To``, 21614 not a mobile number, 21602
missing body and 21617 body too long are about the message (``rejected``); 21603 no ``From``,
21606/21659 an unusable ``From`` and 21408 a region not enabled on the account are
``provider_error``.

Inbound texts (twilio.com/docs/messaging/guides/webhook-request): the number's "A message comes
in" webhook, a form POST of ``MessageSid``, ``From``, ``To``, ``Body`` (and more, all signed as
status callbacks are, over the URL Twilio called: ``inbound_url`` when set). It is answered with
empty TwiML (``<Response/>``, ``text/xml``), so Twilio sends no reply of its own.

Throughput: Twilio queues by message segments per second per sender
(twilio.com/docs/api/errors/30001), so the shared rate limit charges a message its segments
(``counts_segments``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import parse_qsl

from providers.answers import read_coded_answer
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
)
from providers.outcome import PROVIDER_FAULT, REJECT, RETRY, Rule, Verdict

__all__ = [
    "ERROR_CODES",
    "REPORT_STATUSES",
    "TEMPORARY_ERROR_CODES",
    "TwilioProvider",
    "TwilioSettings",
    "request_signature",
    "verify_callback",
]

ERROR_CODES: dict[int, Rule] = {
    20003: PROVIDER_FAULT,
    20404: PROVIDER_FAULT,
    20429: RETRY,
    21211: REJECT,
    21602: REJECT,
    21610: REJECT,
    21612: REJECT,
    21614: REJECT,
    21617: REJECT,
    21408: PROVIDER_FAULT,
    21603: PROVIDER_FAULT,
    21606: PROVIDER_FAULT,
    21659: PROVIDER_FAULT,
}

REPORT_STATUSES: dict[str, ReportStatus] = {
    "accepted": "pending",
    "scheduled": "pending",
    "queued": "pending",
    "sending": "pending",
    "sent": "pending",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "undelivered",
    "canceled": "undelivered",
}

_MAX_VALIDITY_S = 36_000


# Delivery errors Twilio documents as passing (twilio.com/docs/api/errors): 30001 queue
# overflow, 30003 unreachable destination handset (off, out of coverage), 30008 unknown error.
# 30005 (unknown destination handset), 30006 (landline or unreachable carrier), 30004 and 30007
# (blocked, filtered) are about the number or the content: another provider fares no better.
TEMPORARY_ERROR_CODES = frozenset({"30001", "30003", "30008"})


@dataclass(frozen=True, slots=True)
class TwilioSettings:
    name: str
    account_sid: str
    auth_token: str
    base_url: str = "https://api.twilio.com"
    sender: str | None = None
    messaging_service_sid: str | None = None
    status_callback: str | None = None
    inbound_url: str | None = None  # the URL Twilio posts inbound texts to, as it signs it
    timeout_s: float = 10.0


class TwilioProvider(ConfiguredAdapter[TwilioSettings]):
    """One Message resource per SMS."""

    counts_segments = True

    def __init__(self, settings: TwilioSettings) -> None:
        self._settings = settings
        self._url = (
            f"{settings.base_url.rstrip('/')}/2010-04-01/Accounts/{settings.account_sid}"
            "/Messages.json"
        )
        basic = base64.b64encode(f"{settings.account_sid}:{settings.auth_token}".encode())
        self._headers = {"Authorization": f"Basic {basic.decode()}"}

    def redacted_secrets(self) -> tuple[str, ...]:
        return (self._settings.auth_token, self._headers["Authorization"][6:])

    @property
    def signs_reports(self) -> bool:
        return True  # every status callback carries X-Twilio-Signature

    def verify_report(self, report: InboundReport) -> bool:
        # Twilio signs the URL it called: the configured status_callback when set.
        url = self._settings.status_callback or report.url
        return verify_callback(self._settings.auth_token, replace(report, url=url))

    def read_inbound(self, report: InboundReport) -> list[InboundSms]:
        """An incoming-message webhook (form: ``MessageSid``, ``From``, ``To``, ``Body``)."""
        fields = dict(parse_qsl(report.body.decode("utf-8", "replace"), keep_blank_values=True))
        sid, sender, to = fields.get("MessageSid"), fields.get("From"), fields.get("To")
        if not sid or not sender or not to or "Body" not in fields or "MessageStatus" in fields:
            return []
        return [
            InboundSms(
                provider_message_id=sid,
                from_number=e164_of(sender),
                to=e164_of(to),
                text=fields["Body"],
            )
        ]

    def verify_inbound(self, report: InboundReport) -> bool | None:
        # Twilio signs the URL it called: the configured inbound_url when set.
        url = self._settings.inbound_url or report.url
        return verify_callback(self._settings.auth_token, replace(report, url=url))

    def inbound_answer(self) -> InboundAnswer:
        # Empty TwiML: taken, and no reply from Twilio itself.
        return InboundAnswer(200, "text/xml", b"<Response/>")

    def build_send(self, sms: OutboundSms) -> HttpRequest:
        form = {"To": sms.to_e164, "Body": sms.body}
        sender = sms.sender or self._settings.sender
        if self._settings.messaging_service_sid and not sms.sender:
            form["MessagingServiceSid"] = self._settings.messaging_service_sid
        elif sender:
            form["From"] = sender
        if self._settings.status_callback:
            form["StatusCallback"] = self._settings.status_callback
        if sms.valid_until_ms is not None:
            remaining_s = int(sms.valid_until_ms / 1000 - time.time())
            form["ValidityPeriod"] = str(max(1, min(remaining_s, _MAX_VALIDITY_S)))
        return HttpRequest("POST", self._url, headers=self._headers, form=form)

    def read_send_answer(self, answer: HttpAnswer) -> Verdict:
        return read_coded_answer(
            answer, id_field="sid", rules=ERROR_CODES, code_type=int, text_field="message"
        )

    def read_delivery_report(self, report: InboundReport) -> list[DeliveryReport]:
        fields = dict(parse_qsl(report.body.decode("utf-8", "replace")))
        status, sid = fields.get("MessageStatus"), fields.get("MessageSid")
        if not status or not sid or status not in REPORT_STATUSES:
            return []
        ours = REPORT_STATUSES[status]
        error = fields.get("ErrorCode")
        return [
            DeliveryReport(
                status=ours,
                provider_status=status,
                provider_message_id=sid,
                reason=(f"{status} (error {error})" if error else status)
                if ours == "undelivered"
                else None,
                recipient=fields.get("To"),
                temporary=ours == "undelivered" and error in TEMPORARY_ERROR_CODES,
            )
        ]


def request_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    """Twilio's X-Twilio-Signature for a form POST to ``url``."""
    signed = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_callback(auth_token: str, report: InboundReport) -> bool:
    """Whether a status callback carries a valid X-Twilio-Signature for ``auth_token``."""
    headers = {k.lower(): v for k, v in report.headers.items()}
    signature = headers.get("x-twilio-signature")
    if not signature:
        return False
    # Every parameter posted is signed, blank ones too.
    params = dict(parse_qsl(report.body.decode("utf-8", "replace"), keep_blank_values=True))
    expected = request_signature(auth_token, report.url, params)
    return hmac.compare_digest(expected, signature)
