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
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from providers.base import HttpAnswer, HttpRequest, OutboundSms
from providers.outcome import (
    OutcomeKind,
    Scope,
    Verdict,
    classify_status,
    parse_retry_after_s,
)

__all__ = ["ERROR_CODES", "REGIONS", "SinchProvider", "SinchSettings"]

REGIONS: dict[str, str] = {
    "us": "https://us.sms.api.sinch.com",
    "eu": "https://eu.sms.api.sinch.com",
    "au": "https://au.sms.api.sinch.com",
    "br": "https://br.sms.api.sinch.com",
    "ca": "https://ca.sms.api.sinch.com",
}

# Sinch allows expire_at at most 3 days after the send time.
_MAX_EXPIRY = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: OutcomeKind
    scope: Scope


_MESSAGE = _Rule(OutcomeKind.REJECTED, Scope.MESSAGE)
_ACCOUNT = _Rule(OutcomeKind.PROVIDER_ERROR, Scope.PROVIDER)

# The `code` of a 400/403 body, as documented, to what it means for the message.
ERROR_CODES: dict[str, _Rule] = {
    "syntax_invalid_json": _MESSAGE,
    "syntax_invalid_parameter_format": _MESSAGE,
    "syntax_constraint_violation": _MESSAGE,
    "illegal_number_type": _MESSAGE,
    "blocked_account": _ACCOUNT,
    "missing_callback_url": _ACCOUNT,
    "unknown_group": _ACCOUNT,
    "unknown_campaign": _ACCOUNT,
}


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


class SinchProvider:
    """Sends one SMS as one Sinch batch with a single recipient."""

    def __init__(self, settings: SinchSettings) -> None:
        self._settings = settings
        self._url = f"{settings.base_url.rstrip('/')}/xms/v1/{settings.service_plan_id}/batches"
        self._headers = {
            "Authorization": f"Bearer {settings.api_token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    @property
    def name(self) -> str:
        return self._settings.name

    @property
    def timeout_s(self) -> float:
        return self._settings.timeout_s

    def redacted_secrets(self) -> tuple[str, ...]:
        return (self._settings.api_token,)

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
        retry_after_s = parse_retry_after_s(answer.headers)
        document = _json_object(answer.body)
        if 200 <= answer.status < 300:
            batch_id = document.get("id") if document else None
            if isinstance(batch_id, str) and batch_id:
                return Verdict(
                    OutcomeKind.ACCEPTED,
                    reason=f"http_{answer.status}",
                    provider_message_id=batch_id,
                )
            return Verdict(
                OutcomeKind.AMBIGUOUS,
                Scope.PROVIDER,
                reason=f"http_{answer.status}_without_batch_id",
            )
        code = document.get("code") if document else None
        text = document.get("text") if document else None
        reason = text if isinstance(text, str) and text else f"http_{answer.status}"
        # Sinch documents codes on 400 and 403; a 5xx is the provider's fault whatever it says.
        if isinstance(code, str) and code in ERROR_CODES and 400 <= answer.status < 500:
            rule = ERROR_CODES[code]
            return Verdict(rule.kind, rule.scope, reason=reason, provider_code=code)
        by_status = classify_status(answer.status, retry_after_s=retry_after_s)
        return Verdict(
            by_status.kind,
            by_status.scope,
            reason=reason,
            retry_after_s=by_status.retry_after_s,
            provider_code=code if isinstance(code, str) else None,
        )


def _expire_at(valid_until_ms: int) -> str:
    now = datetime.now(UTC)
    until = datetime.fromtimestamp(valid_until_ms / 1000, UTC)
    until = min(until, now + _MAX_EXPIRY)
    return until.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_object(body: bytes) -> dict[str, Any] | None:
    if not body:
        return None
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None
