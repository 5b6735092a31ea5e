"""Cecula adapter (Nigeria, the "DartPro" A2P API).

References (``shared/providers/003_*`` "HTTP Responses", ``API.md``; app.cecula.com/docs):
- Send: ``POST {base}/api/sms/a2p/send`` with ``Authorization: Bearer <API key>``, JSON
  ``{"recipients": ["2348181234567"], "text", "sender"}`` (numbers without ``+``; text of at most
  1071 characters; an approved sender name of at most 11).
- Success: ``200 {"recipients": [{"id", "mobile", "status": "ACK", "code": 1801}],
  "messageReference"}``. Only code 1801 is success; the recipient's ``id`` is the provider
  message id. "The fact that a broadcast returned 200 OK does not guarantee that everything is
  fine. The status code within the JSON response is your source of truth."
- HTTP statuses 200-204, 400, 401, 403, 404, 405, 409, 429, 500, 502, 503, 504 and 523 ("origin is
  unreachable ... try again after a while").

Choices where the documents are silent, mirrored by the simulator:
- Where the code sits in a failed answer is not documented: a top-level ``code`` and the first
  recipient's ``code`` are both read (the recipient's wins).
- Sender problems (4001, 1807, 4002, 4003, 4004) and 1804 (insufficient balance) are about our
  account with Cecula: ``provider_error``, so another provider can carry the message. Recipient and
  text problems (1806, 1808, 1809), broadcast-time problems (1902, 1903) and template errors
  (6000-6002) are about the message: ``rejected``. A 2xx with an unknown code is ``rejected`` too
  (the body is the truth, and it does not say "sent"); a 2xx with no readable code, or 1801
  without a recipient id, is ``ambiguous``; a 204 (documented "success but no content") is
  ``accepted`` without an id.
- The delivery-report payload is not documented; a JSON body ``{"id" | "messageId", "status",
  "code", "mobile"}`` is read, with DELIVRD/DELIVERED delivered, ACK/SENT/PENDING/BUFFERED pending,
  and anything else undelivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from providers.base import (
    ConfiguredAdapter,
    DeliveryReport,
    HttpAnswer,
    HttpRequest,
    InboundReport,
    OutboundSms,
    json_object,
    report_status,
)
from providers.outcome import (
    PROVIDER_FAULT,
    REJECT,
    OutcomeKind,
    Rule,
    Scope,
    Verdict,
    classify_error,
    id_or_ambiguous,
)

__all__ = ["BODY_CODES", "SUCCESS_CODE", "CeculaProvider", "CeculaSettings"]

SUCCESS_CODE = 1801

BODY_CODES: dict[int, Rule] = {
    4001: PROVIDER_FAULT,  # sender missing
    1807: PROVIDER_FAULT,  # invalid sender
    4002: PROVIDER_FAULT,  # sender not registered
    4003: PROVIDER_FAULT,  # sender rejected
    4004: PROVIDER_FAULT,  # sender under review
    1804: PROVIDER_FAULT,  # insufficient balance
    1806: REJECT,  # invalid recipients
    1808: REJECT,  # text too long
    1809: REJECT,  # text empty
    1902: REJECT,  # broadcast time in the past
    1903: REJECT,  # bad broadcast time
    6000: REJECT,  # template errors
    6001: REJECT,
    6002: REJECT,
}

_DELIVERED = frozenset({"DELIVRD", "DELIVERED"})
_PENDING = frozenset({"ACK", "SENT", "PENDING", "BUFFERED", "ENROUTE"})


@dataclass(frozen=True, slots=True)
class CeculaSettings:
    name: str
    api_key: str
    base_url: str = "https://app.cecula.com"
    sender: str | None = None
    timeout_s: float = 10.0


class CeculaProvider(ConfiguredAdapter[CeculaSettings]):
    """One SMS per request; the JSON body decides success, whatever the HTTP status."""

    def __init__(self, settings: CeculaSettings) -> None:
        self._settings = settings
        self._url = f"{settings.base_url.rstrip('/')}/api/sms/a2p/send"
        self._headers = {
            "Authorization": f"Bearer {settings.api_key}",
            "Content-Type": "application/json",
        }

    def redacted_secrets(self) -> tuple[str, ...]:
        return (self._settings.api_key,)

    def build_send(self, sms: OutboundSms) -> HttpRequest:
        payload: dict[str, Any] = {"recipients": [sms.to_e164.lstrip("+")], "text": sms.body}
        sender = sms.sender or self._settings.sender
        if sender:
            payload["sender"] = sender
        return HttpRequest("POST", self._url, headers=self._headers, json=payload)

    def read_send_answer(self, answer: HttpAnswer) -> Verdict:
        document = json_object(answer.body)
        code, message_id, text = _body_code(document)
        provider_code = str(code) if code is not None else None
        reason = text or f"http_{answer.status}"
        if answer.status == 204:
            return id_or_ambiguous(204, None)  # "success, no content": not sent again
        if 200 <= answer.status < 300:
            if code == SUCCESS_CODE and message_id:
                return Verdict(OutcomeKind.ACCEPTED, reason="1801", provider_message_id=message_id)
            if code is None or code == SUCCESS_CODE:  # no code, or success without an id
                return Verdict(
                    OutcomeKind.AMBIGUOUS, Scope.PROVIDER, reason=f"http_{answer.status}_no_code"
                )
            in_body = BODY_CODES.get(code, REJECT)
            return Verdict(in_body.kind, in_body.scope, reason=reason, provider_code=provider_code)
        rule = BODY_CODES.get(code) if code is not None and answer.status < 500 else None
        return classify_error(
            answer.status, answer.headers, rule=rule, reason=reason, provider_code=provider_code
        )

    def read_delivery_report(self, report: InboundReport) -> list[DeliveryReport]:
        document = json_object(report.body)
        if document is None:
            return []
        status = document.get("status")
        message_id = document.get("messageId") or document.get("id")
        if not isinstance(status, str) or not isinstance(message_id, str):
            return []
        ours = report_status(status, delivered=_DELIVERED, pending=_PENDING)
        code = document.get("code")
        return [
            DeliveryReport(
                status=ours,
                provider_status=status,
                provider_message_id=message_id,
                reason=f"{status} (code {code})" if ours == "undelivered" else None,
                recipient=document.get("mobile")
                if isinstance(document.get("mobile"), str)
                else None,
            )
        ]


def _body_code(document: dict[str, Any] | None) -> tuple[int | None, str | None, str | None]:
    """The status code (the first recipient's, else the top-level one), message id and text."""
    if document is None:
        return None, None, None
    code = document.get("code")
    message_id = None
    text = document.get("message") or document.get("error")
    recipients = document.get("recipients")
    if isinstance(recipients, list) and recipients and isinstance(recipients[0], dict):
        first = recipients[0]
        code = first.get("code", code)
        message_id = first.get("id")
        text = first.get("message") or first.get("status") or text
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    return (
        code if isinstance(code, int) else None,
        message_id if isinstance(message_id, str) and message_id else None,
        text if isinstance(text, str) and text else None,
    )
