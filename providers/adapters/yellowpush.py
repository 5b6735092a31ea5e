"""YellowPush adapter (Colombia).

References (``shared/providers/002_*`` "Error Codes", ``API.md``). The current portal's send
endpoint is not public; YellowPush's own SDKs (GitHub ``IdentidadIoT``:
``YellowPushSMSPythonPackage``, ``IdentidadSMSPackage/YellowPushSMSPackage/YellowPushSMS.cs``) use
``https://api.identidadsms.net/rest``:
- ``GET /auth`` with Basic auth (user:password) → ``{"token"}``;
- ``GET /account`` with Basic auth → ``[{"id"}]``, the ``acc_id``;
- ``POST /send_sms`` with ``Authorization: Bearer <token>``, form fields ``acc_id``, ``to`` (country
  code and number, no symbols), ``from``, ``message``;
- ``GET /sms_edr?client_message_id=…&start_date&end_date`` for the status.
The token and account id are fetched once and cached; a 401 to a send drops them and the send is
tried once more with fresh ones.

Errors: ``400 {"message", "code": 1 | 2, "listErrors": null | [...]}`` where code 1 is a request
error (``rejected``) and code 2 a system error (the provider's own failure: ``retryable``);
``listErrors`` points at bad numbers by position. ``401`` "Unauthorized client".

Choices where the documents are silent, mirrored by the simulator:
- The SDKs treat any 200 as success and read no id. A 200 is ``accepted``; the provider message id
  is read from ``messageId`` (the id the SDK's status lookup takes), ``message_id`` or ``id`` when
  the body has one, else none is recorded.
- The ``sms_edr`` answer is not documented: ``{"client_message_id", "status"}`` (or a list of
  such) is read, with DELIVERED/DELIVRD delivered, SENT/PENDING/ACCEPTED pending, and anything else
  undelivered. No callback is documented; the same shape is read if one is posted.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

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
    RETRY,
    OutcomeKind,
    Rule,
    Scope,
    Verdict,
    classify_error,
)

__all__ = ["BODY_CODES", "YellowPushProvider", "YellowPushSettings"]

BODY_CODES: dict[int, Rule] = {1: REJECT, 2: RETRY}

_DELIVERED = frozenset({"DELIVERED", "DELIVRD"})
_PENDING = frozenset({"SENT", "PENDING", "ACCEPTED", "QUEUED", "ENROUTE"})


@dataclass(frozen=True, slots=True)
class YellowPushSettings:
    name: str
    username: str
    password: str
    base_url: str = "https://api.identidadsms.net/rest"
    sender: str | None = None
    timeout_s: float = 10.0


class YellowPushProvider(ConfiguredAdapter[YellowPushSettings]):
    """Sends with a cached bearer token and account id (see :class:`providers.base.SessionAuth`)."""

    def __init__(self, settings: YellowPushSettings) -> None:
        self._settings = settings
        self._base = settings.base_url.rstrip("/")
        basic = base64.b64encode(f"{settings.username}:{settings.password}".encode()).decode()
        self._basic = {"Authorization": f"Basic {basic}"}
        self._token: str | None = None
        self._account_id: str | None = None

    def redacted_secrets(self) -> tuple[str, ...]:
        cached = (self._token,) if self._token else ()
        return (self._settings.password, self._basic["Authorization"][6:], *cached)

    # --- session credential -----------------------------------------------------------------

    def auth_request(self) -> HttpRequest | None:
        if self._token is None:
            return HttpRequest("GET", f"{self._base}/auth", headers=self._basic)
        if self._account_id is None:
            return HttpRequest("GET", f"{self._base}/account", headers=self._basic)
        return None

    def read_auth_answer(self, answer: HttpAnswer) -> Verdict | None:
        if answer.status != 200:
            if answer.status in (401, 403):
                return Verdict(
                    OutcomeKind.PROVIDER_ERROR, Scope.PROVIDER, reason=f"auth http_{answer.status}"
                )
            return self.read_send_answer(answer)
        # Read by its shape, not by what is cached now: sends that start together each ask,
        # and a second /auth answer may arrive after the first one's token is cached.
        document = json_object(answer.body)
        token = document.get("token") if document else None
        if isinstance(token, str) and token:
            self._token = token
            return None
        account_id = _first_account_id(answer.body)
        if account_id:
            self._account_id = account_id
            return None
        return Verdict(OutcomeKind.RETRYABLE, Scope.PROVIDER, reason="auth answer unreadable")

    def forget_auth(self) -> None:
        self._token = None
        self._account_id = None

    # --- sending -----------------------------------------------------------------------------

    def build_send(self, sms: OutboundSms) -> HttpRequest:
        form = {
            "acc_id": self._account_id or "",
            "to": sms.to_e164.lstrip("+"),
            "message": sms.body,
        }
        sender = sms.sender or self._settings.sender
        if sender:
            form["from"] = sender
        return HttpRequest(
            "POST",
            f"{self._base}/send_sms",
            headers={"Authorization": f"Bearer {self._token or ''}"},
            form=form,
        )

    def read_send_answer(self, answer: HttpAnswer) -> Verdict:
        document = json_object(answer.body)
        if answer.status == 200:
            return Verdict(
                OutcomeKind.ACCEPTED,
                reason="http_200",
                provider_message_id=_message_id(document),
            )
        code = document.get("code") if document else None
        text = document.get("message") if document else None
        errors = document.get("listErrors") if document else None
        reason = text if isinstance(text, str) and text else f"http_{answer.status}"
        if isinstance(errors, list) and errors:
            reason = f"{reason}: {'; '.join(str(e) for e in errors[:3])}"
        rule = BODY_CODES.get(code) if isinstance(code, int) and answer.status < 500 else None
        if answer.status == 401:
            rule = PROVIDER_FAULT  # still refused after a fresh token
        return classify_error(
            answer.status,
            answer.headers,
            rule=rule,
            reason=reason,
            provider_code=str(code) if isinstance(code, int) else None,
        )

    # --- status ------------------------------------------------------------------------------

    def build_status_query(self, provider_message_id: str) -> HttpRequest:
        return HttpRequest(
            "GET",
            f"{self._base}/sms_edr?{urlencode({'client_message_id': provider_message_id})}",
            headers={"Authorization": f"Bearer {self._token or ''}"},
        )

    def read_status_answer(self, answer: HttpAnswer) -> DeliveryReport | None:
        if answer.status != 200:
            return None
        reports = _reports(answer.body)
        return reports[0] if reports else None

    def read_delivery_report(self, report: InboundReport) -> list[DeliveryReport]:
        return _reports(report.body)


def _first_account_id(body: bytes) -> str | None:
    try:
        accounts = json.loads(body)  # a list, which json_object does not take
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(accounts, list) and accounts and isinstance(accounts[0], dict):
        account_id = accounts[0].get("id")
        if isinstance(account_id, str | int) and str(account_id):
            return str(account_id)
    return None


def _message_id(document: dict[str, Any] | None) -> str | None:
    if document is None:
        return None
    for key in ("messageId", "message_id", "id"):
        value = document.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def _reports(body: bytes) -> list[DeliveryReport]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return []
    entries = document if isinstance(document, list) else [document]
    reports = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        status, message_id = entry.get("status"), entry.get("client_message_id")
        if not isinstance(status, str) or not isinstance(message_id, str):
            continue
        ours = report_status(status, delivered=_DELIVERED, pending=_PENDING)
        reports.append(
            DeliveryReport(
                status=ours,
                provider_status=status,
                provider_message_id=message_id,
                reason=status if ours == "undelivered" else None,
            )
        )
    return reports
