"""GoSMS adapter (a Russian gateway that sends through the customer's own Android phones).

References (``shared/providers/000_*`` "Responses", ``API.md``; docs.gosms.ru, repository
``715kg/doc.gosms``: ``docs/ru/service/sms.md``, ``docs/ru/code-error.md``):
- Send: ``POST {base}/v1/sms/send`` with ``Authorization: Bearer <token>``, JSON ``{"message",
  "phone_number"}``; one number per request, digits only without ``+``; ``message`` of 1 to 300
  characters.
  No sender field and no client reference.
- Success: ``200 {"id": "<24 hex>"}`` (201 and 204 are also listed as success statuses).
- Errors: ``{"errors": {"code": N, "message": "...", "hash": "..."}}`` with 400/401/403/404/429/500.
- Status by polling ``POST {base}/v1/sms/get {"id"}``: ``status`` 0 waiting, 1 processing, 2 sent,
  3 send error, 4 delivered, 5 delivery error (the webhook payload is not documented).

Choices where the documents are silent, mirrored by the simulator:
- Which HTTP status goes with which code is not documented: a known code decides (table below);
  code 1000 ("unknown") and unknown codes leave it to the status.
- The seed's sample pairs 2008 with "bad phone_number"; the code list says 2001 is the number and
  2008 ``to_sim``. The list is followed.
- A 2xx without an ``id`` is ``ambiguous``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from providers.answers import read_coded_answer
from providers.base import (
    ConfiguredAdapter,
    DeliveryReport,
    HttpAnswer,
    HttpRequest,
    InboundReport,
    OutboundSms,
    ReportStatus,
    json_object,
)
from providers.outcome import PROVIDER_FAULT, REJECT, Rule, Verdict

__all__ = ["ERROR_CODES", "POLL_STATUSES", "GoSmsProvider", "GoSmsSettings"]


_MESSAGE, _ACCOUNT = REJECT, PROVIDER_FAULT

# docs/ru/code-error.md; 1000 ("unknown error") is left to the HTTP status.
ERROR_CODES: dict[int, Rule] = {
    1001: _MESSAGE,  # bad JSON
    1002: _ACCOUNT,  # instance inactive
    1003: _ACCOUNT,  # instance deleted
    1004: _ACCOUNT,  # no registered devices
    1005: _ACCOUNT,  # sending not allowed
    1006: _ACCOUNT,  # monthly tariff limit
    1015: _ACCOUNT,  # no device enabled for sending
    1016: _ACCOUNT,  # no such device
    1017: _ACCOUNT,  # to_sim without device_id
    2001: _MESSAGE,  # bad phone_number
    2002: _MESSAGE,  # bad message
    2004: _ACCOUNT,  # bad callback_id (our configuration)
    2005: _ACCOUNT,  # bad device_id (our configuration)
    2008: _ACCOUNT,  # bad to_sim (our configuration)
    3000: _ACCOUNT,  # account blocked
}

POLL_STATUSES: dict[int, ReportStatus] = {
    0: "pending",
    1: "pending",
    2: "pending",
    3: "undelivered",
    4: "delivered",
    5: "undelivered",
}


@dataclass(frozen=True, slots=True)
class GoSmsSettings:
    name: str
    api_token: str
    base_url: str = "https://api.gosms.ru"
    device_id: str | None = None
    timeout_s: float = 10.0


class GoSmsProvider(ConfiguredAdapter[GoSmsSettings]):
    """One SMS per request, the number as digits."""

    def __init__(self, settings: GoSmsSettings) -> None:
        self._settings = settings
        base = settings.base_url.rstrip("/")
        self._send_url = f"{base}/v1/sms/send"
        self._status_url = f"{base}/v1/sms/get"
        self._headers = {
            "Authorization": f"Bearer {settings.api_token}",
            "Content-Type": "application/json",
        }

    def redacted_secrets(self) -> tuple[str, ...]:
        return (self._settings.api_token,)

    def build_send(self, sms: OutboundSms) -> HttpRequest:
        payload: dict[str, Any] = {"message": sms.body, "phone_number": sms.to_e164.lstrip("+")}
        if self._settings.device_id:
            payload["device_id"] = self._settings.device_id
        return HttpRequest("POST", self._send_url, headers=self._headers, json=payload)

    def read_send_answer(self, answer: HttpAnswer) -> Verdict:
        # The code and the text sit in the nested ``errors`` object; a 5xx is the provider's fault.
        return read_coded_answer(
            answer,
            id_field="id",
            rules=ERROR_CODES,
            code_type=int,
            text_field="message",
            error_field="errors",
        )

    def build_status_query(self, provider_message_id: str) -> HttpRequest:
        return HttpRequest(
            "POST", self._status_url, headers=self._headers, json={"id": provider_message_id}
        )

    def read_status_answer(self, answer: HttpAnswer) -> DeliveryReport | None:
        if answer.status != 200:
            return None
        return _report(json_object(answer.body))

    def read_delivery_report(self, report: InboundReport) -> list[DeliveryReport]:
        """GoSMS's webhook payload is not documented; a body shaped like ``/sms/get``'s is read."""
        found = _report(json_object(report.body))
        return [found] if found else []


def _report(document: dict[str, Any] | None) -> DeliveryReport | None:
    if document is None:
        return None
    status = document.get("status")
    if not isinstance(status, int) or status not in POLL_STATUSES:
        return None
    ours = POLL_STATUSES[status]
    text = document.get("message_status")
    return DeliveryReport(
        status=ours,
        provider_status=str(status),
        provider_message_id=document.get("id") if isinstance(document.get("id"), str) else None,
        reason=(text if isinstance(text, str) else str(status)) if ours == "undelivered" else None,
        recipient=document.get("phone_number")
        if isinstance(document.get("phone_number"), str)
        else None,
    )
