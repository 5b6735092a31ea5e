"""Sinch SMS REST API (XMS) adapter.

References (see ``shared/providers/001_*``, ``004_*`` and ``API.md``):
- Send a batch: ``POST https://{region}.sms.api.sinch.com/xms/v1/{service_plan_id}/batches`` with
  ``Authorization: Bearer <API token>`` and ``Content-Type: application/json`` (else 415);
  https://developers.sinch.com/docs/sms/api-reference/sms/tag/Batches/#tag/Batches/operation/SendSMS
- Success is ``201`` with the batch; its top-level ``id`` is the provider message id.
- 400 and 403 carry ``{"code", "text"}``; 404 has no body ("HTTP Status Codes for the SMS REST
  API"). 401, 405, 415, 429, 500 and 503 are also documented.

Choices where the documents are silent, mirrored by the simulator:
- A 2xx whose body carries no batch ``id`` is ``ambiguous``: the batch may exist, and we cannot
  tell which, so a blind retry could send it twice.
- ``missing_callback_url``, ``unknown_group`` and ``unknown_campaign`` are about our account set-up,
  the same for every message: ``provider_error``. ``illegal_number_type`` is about the destination:
  ``rejected``. ``blocked_account``: ``provider_error``.
- Sinch documents no ``Retry-After``; it is honoured when present anyway.

Asked before a resend (List Batches, ``GET .../batches?client_reference=<our id>&start_date=``;
https://developers.sinch.com/docs/sms/api-reference/sms/tag/Batches/#tag/Batches/operation/ListBatches):
``start_date`` defaults to the last 24 h, so the search passes one an hour before the message was
created (room for clocks that differ); a ``200`` whose ``batches`` hold one with our
``client_reference`` is found (its ``id`` is the batch), an empty list is not found, anything
else says nothing.

Delivery reports (``delivery_report = per_recipient_final`` when a callback URL is configured):
``recipient_delivery_report_sms`` (one recipient) and ``delivery_report_sms`` (batch summary with
``statuses[].recipients``); both echo ``client_reference`` (our message id). Queued and Dispatched
are intermediate; Delivered is delivered; Failed, Expired, Rejected, Aborted, Cancelled, Deleted and
Unknown are undelivered. Callbacks may be signed: ``x-sinch-webhook-signature`` =
Base64(HMAC-SHA256(secret, "{body}.{nonce}.{timestamp}")) with the ``-nonce`` and ``-timestamp``
headers (:func:`callback_signature`, :func:`verify_callback`).

Inbound texts (the "Incoming SMS" callback of the service plan's callback URL;
https://developers.sinch.com/docs/sms/api-reference/sms/tag/Webhooks/): a JSON POST of type
``mo_text`` with ``id``, ``from`` (digits, no ``+``), ``to``, ``body`` and ``received_at`` (ISO
8601), signed as delivery reports are when signing is on. ``mo_binary`` (a Base64 body) and
``mo_media`` carry no text and are not read. Sinch retries a callback on 5xx and 429, not on
another 4xx.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

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
    ReferenceSearch,
    ReportStatus,
    e164_of,
    json_object,
)
from providers.outcome import PROVIDER_FAULT, REJECT, Rule, Verdict

__all__ = [
    "ERROR_CODES",
    "REGIONS",
    "REPORT_STATUSES",
    "TEMPORARY_REPORT_CODES",
    "SinchProvider",
    "SinchSettings",
    "callback_signature",
    "verify_callback",
]

REGIONS: dict[str, str] = {
    "us": "https://us.sms.api.sinch.com",
    "eu": "https://eu.sms.api.sinch.com",
    "au": "https://au.sms.api.sinch.com",
    "br": "https://br.sms.api.sinch.com",
    "ca": "https://ca.sms.api.sinch.com",
}

# How far before a message's creation a search by its reference starts (clocks differ).
_SEARCH_MARGIN_MS = 3_600_000
# A message sent more than twice under one reference is not looked for past this many batches.
_SEARCH_PAGE_SIZE = 10

# Sinch allows expire_at at most 3 days after the send time.
_MAX_EXPIRY_MS = 3 * 86_400_000  # Sinch takes an expire_at at most 3 days ahead


_MESSAGE, _ACCOUNT = REJECT, PROVIDER_FAULT

# The `code` of a 400/403 body, as documented, to what it means for the message.
ERROR_CODES: dict[str, Rule] = {
    "syntax_invalid_json": _MESSAGE,
    "syntax_invalid_parameter_format": _MESSAGE,
    "syntax_constraint_violation": _MESSAGE,
    "illegal_number_type": _MESSAGE,
    "blocked_account": _ACCOUNT,
    "missing_callback_url": _ACCOUNT,
    "unknown_group": _ACCOUNT,
    "unknown_campaign": _ACCOUNT,
}

REPORT_STATUSES: dict[str, ReportStatus] = {
    "Queued": "pending",
    "Dispatched": "pending",
    "Delivered": "delivered",
    "Failed": "undelivered",
    "Expired": "undelivered",
    "Rejected": "undelivered",
    "Aborted": "undelivered",
    "Cancelled": "undelivered",
    "Deleted": "undelivered",
    "Unknown": "undelivered",
}


# Delivery report codes Sinch documents as passing ("Delivery report error codes" of the SMS
# REST API): 404 temporary delivery failure, 406 internal expiry (the message expired before
# it reached the operator). 402 (unroutable), 405, 407 (cancelled), 408 (rejected), 410-413
# (originator, parts, region, blocked) are not.
TEMPORARY_REPORT_CODES = frozenset({"404", "406"})


@dataclass(frozen=True, slots=True)
class SinchSettings:
    """What the Sinch adapter needs; the token comes from the environment, never from a file."""

    name: str
    service_plan_id: str
    api_token: str
    base_url: str = REGIONS["us"]
    sender: str | None = None
    timeout_s: float = 10.0
    callback_url: str | None = None
    # The HMAC secret set for callbacks in the Sinch dashboard; unset: callbacks are unsigned.
    webhook_secret: str | None = None


class SinchProvider(ConfiguredAdapter[SinchSettings]):
    """Sends one SMS as one Sinch batch with a single recipient."""

    reports_carry_reference = True  # ``client_reference``: "echoed in delivery reports"

    def __init__(self, settings: SinchSettings) -> None:
        self._settings = settings
        self._url = f"{settings.base_url.rstrip('/')}/xms/v1/{settings.service_plan_id}/batches"
        self._headers = {
            "Authorization": f"Bearer {settings.api_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def redacted_secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._settings.api_token, self._settings.webhook_secret) if s)

    @property
    def signs_reports(self) -> bool:
        return bool(self._settings.webhook_secret)

    def verify_report(self, report: InboundReport) -> bool:
        secret = self._settings.webhook_secret
        return bool(secret) and verify_callback(secret or "", report)

    def read_inbound(self, report: InboundReport) -> list[InboundSms]:
        """An ``mo_text`` callback (``from``, ``to``, ``body``, ``id``, ``received_at``); an
        ``mo_binary`` one carries no text and is not read."""
        document = json_object(report.body)
        if document is None or document.get("type") != "mo_text":
            return []
        sid, sender, to = (_text(document.get(k)) for k in ("id", "from", "to"))
        body = document.get("body")
        if not sid or not sender or not to or not isinstance(body, str):
            return []
        return [
            InboundSms(
                provider_message_id=sid,
                from_number=e164_of(sender),
                to=e164_of(to),
                text=body,
                received_at_ms=_epoch_ms(document.get("received_at")),
            )
        ]

    def verify_inbound(self, report: InboundReport) -> bool | None:
        return self.verify_report(report) if self.signs_reports else None

    def inbound_answer(self) -> InboundAnswer:
        return InboundAnswer()

    def build_send(self, sms: OutboundSms) -> HttpRequest:
        payload: dict[str, Any] = {
            "to": [sms.to_e164],
            "body": sms.body,
            "client_reference": sms.message_id,
        }
        sender = sms.sender or self._settings.sender
        if sender:
            payload["from"] = sender
        if sms.valid_until_ms is not None:
            payload["expire_at"] = _expire_at(sms.valid_until_ms)
        if self._settings.callback_url:
            payload["delivery_report"] = "per_recipient_final"
            payload["callback_url"] = self._settings.callback_url
        return HttpRequest("POST", self._url, headers=self._headers, json=payload)

    def read_send_answer(self, answer: HttpAnswer) -> Verdict:
        # Sinch documents codes on 400 and 403; a 5xx is the provider's fault whatever it says.
        return read_coded_answer(
            answer, id_field="id", rules=ERROR_CODES, code_type=str, text_field="text"
        )

    def build_reference_query(self, client_reference: str, *, since_ms: int) -> HttpRequest:
        query = urlencode(
            {
                "client_reference": client_reference,
                "start_date": _iso_ms(since_ms - _SEARCH_MARGIN_MS),
                "page_size": _SEARCH_PAGE_SIZE,
            }
        )
        return HttpRequest("GET", f"{self._url}?{query}", headers=self._headers)

    def read_reference_answer(
        self, answer: HttpAnswer, client_reference: str
    ) -> ReferenceSearch | None:
        document = json_object(answer.body) if answer.status == 200 else None
        batches = document.get("batches") if document is not None else None
        if not isinstance(batches, list):
            return None
        for batch in batches:
            if (
                isinstance(batch, dict)
                and batch.get("client_reference") == client_reference
                and _text(batch.get("id"))
            ):
                return ReferenceSearch(True, batch["id"])
        return ReferenceSearch(False)

    def read_delivery_report(self, report: InboundReport) -> list[DeliveryReport]:
        document = json_object(report.body)
        if document is None:
            return []
        kind = document.get("type")
        batch_id = _text(document.get("batch_id"))
        reference = _text(document.get("client_reference"))
        if kind == "recipient_delivery_report_sms":
            found = _report(document.get("status"), document.get("code"), batch_id, reference)
            if found is None:
                return []
            return [_with_recipient(found, _text(document.get("recipient")))]
        if kind == "delivery_report_sms":
            reports: list[DeliveryReport] = []
            for entry in document.get("statuses") or []:
                if not isinstance(entry, dict):
                    continue
                found = _report(entry.get("status"), entry.get("code"), batch_id, reference)
                if found is None:
                    continue
                recipients = entry.get("recipients") or [None]
                reports += [_with_recipient(found, _text(r)) for r in recipients]
            return reports
        return []


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _report(
    status: object, code: object, batch_id: str | None, reference: str | None
) -> DeliveryReport | None:
    if not isinstance(status, str) or status not in REPORT_STATUSES:
        return None
    ours = REPORT_STATUSES[status]
    return DeliveryReport(
        status=ours,
        provider_status=status,
        provider_message_id=batch_id,
        client_reference=reference,
        reason=f"{status} (code {code})" if ours == "undelivered" else None,
        temporary=ours == "undelivered" and str(code) in TEMPORARY_REPORT_CODES,
    )


def _with_recipient(report: DeliveryReport, recipient: str | None) -> DeliveryReport:
    return dataclasses.replace(report, recipient=recipient)


def callback_signature(secret: str, body: bytes, nonce: str, timestamp: str) -> str:
    """Sinch's callback signature: Base64(HMAC-SHA256(secret, "{body}.{nonce}.{timestamp}"))."""
    signed = body + f".{nonce}.{timestamp}".encode()
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_callback(secret: str, report: InboundReport) -> bool:
    """Whether a callback carries a valid Sinch signature for ``secret``."""
    headers = {k.lower(): v for k, v in report.headers.items()}
    signature = headers.get("x-sinch-webhook-signature")
    nonce = headers.get("x-sinch-webhook-signature-nonce")
    timestamp = headers.get("x-sinch-webhook-signature-timestamp")
    if not (signature and nonce and timestamp):
        return False
    expected = callback_signature(secret, report.body, nonce, timestamp)
    return hmac.compare_digest(expected, signature)


def _epoch_ms(value: object) -> int | None:
    """An ISO 8601 time of Sinch's (``2024-06-06T07:52:37.386Z``) as epoch ms; None if not one."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _expire_at(valid_until_ms: int) -> str:
    """``valid_until_ms`` (capped at the longest expiry Sinch takes) as ISO 8601 UTC, to the ms."""
    return _iso_ms(min(valid_until_ms, int(time.time() * 1000) + _MAX_EXPIRY_MS))


def _iso_ms(epoch_ms: int) -> str:
    """``epoch_ms`` as ISO 8601 UTC to the millisecond (``YYYY-MM-DDThh:mm:ss.SSSZ``)."""
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
