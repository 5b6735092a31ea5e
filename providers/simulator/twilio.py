"""The Twilio personality: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``.

Checks, in order: Basic auth ``AccountSid:AuthToken`` (401, code 20003), the account in the path
(404, code 20404), ``To`` in E.164 (400, 21211), ``From`` or ``MessagingServiceSid`` (400, 21603),
``Body`` (400, 21602 missing; 21617 over 1600 characters); then ``201`` with the Message resource
(``sid`` ``SM`` + 32 hex, ``status`` ``queued``). Errors are ``{"code", "message", "more_info",
"status"}``. With a ``StatusCallback`` (or a report URL set for ``twilio`` through the control API),
it posts ``MessageSid``, ``MessageStatus`` (``delivered`` or ``undelivered`` with ``ErrorCode``
30003), ``To``, ``From``, ``AccountSid`` form-encoded, signed with ``X-Twilio-Signature``.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from providers.adapters.twilio import request_signature
from providers.simulator.personality import OutgoingReport, Personality, random_hex
from providers.simulator.state import AcceptedMessage

__all__ = ["TwilioPersonality"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_TEXTS = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    21211: "The 'To' number is not a valid phone number.",
    21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To'",
    21602: "Message body is required.",
    21603: "A 'From' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number.",
    21610: "Attempt to send to unsubscribed recipient",
    21612: "The 'To' phone number is not currently reachable via SMS.",
    21614: "'To' number is not a valid mobile number",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21659: "The 'From' number is not a Twilio phone number or a valid sender.",
}
_DEFAULT_CODE = {400: 21211, 401: 20003, 404: 20404, 429: 20429}


class TwilioPersonality(Personality):
    """Serves one Twilio account."""

    kind = "twilio"
    credential_settings = ("account_sid", "auth_token")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self.messages)

    def new_message_id(self) -> str:
        return "SM" + random_hex(32)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        sid, token = self.credentials["account_sid"], self.credentials["auth_token"]
        expected = base64.b64encode(f"{sid}:{token}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return self.failure(401, 20003)
        if request.match_info["account"] != sid:
            return self.failure(404, 20404)
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if not _E164.match(form.get("To", "")):
            return self.failure(400, 21211)
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return self.failure(400, 21603)
        body = form.get("Body", "")
        if not body:
            return self.failure(400, 21602)
        if len(body) > 1600:
            return self.failure(400, 21617)
        return await self.answer_send(
            request, to=form["To"], payload=form, callback_url=form.get("StatusCallback")
        )

    def success(self, message: AcceptedMessage, payload: Any) -> web.Response:
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        sid = self.credentials["account_sid"]
        resource = {
            "sid": message.provider_message_id,
            "account_sid": sid,
            "to": payload["To"],
            "from": payload.get("From"),
            "messaging_service_sid": payload.get("MessagingServiceSid"),
            "body": payload["Body"],
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{sid}/Messages/{message.provider_message_id}.json",
        }
        return web.json_response(resource, status=201)

    def failure(self, status: int, code: str | int | None) -> web.Response:
        number = int(code) if code is not None else _DEFAULT_CODE.get(status)
        if number is None:
            return web.json_response(
                {"code": None, "message": "Error", "more_info": None, "status": status},
                status=status,
            )
        document = {
            "code": number,
            "message": _TEXTS.get(number, "Error"),
            "more_info": f"https://www.twilio.com/docs/errors/{number}",
            "status": status,
        }
        return web.json_response(document, status=status)

    def delivery_report(self, message: AcceptedMessage, url: str) -> OutgoingReport | None:
        delivered = message.report == "delivered"
        params = {
            "AccountSid": self.credentials["account_sid"],
            "MessageSid": message.provider_message_id,
            "SmsSid": message.provider_message_id,
            "MessageStatus": "delivered" if delivered else "undelivered",
            "SmsStatus": "delivered" if delivered else "undelivered",
            "To": message.to,
            "ApiVersion": "2010-04-01",
        }
        if not delivered:  # unreachable handset (passing), else unknown handset
            params["ErrorCode"] = "30003" if message.report == "failed_temporarily" else "30005"
        return self._signed(url, params)

    def inbound_post(self, url: str, sender: str, to: str, text: str) -> OutgoingReport | None:
        """The "A message comes in" webhook, signed over ``url`` and every parameter."""
        sid = "SM" + random_hex(32)
        params = {
            "ToCountry": "US",
            "SmsMessageSid": sid,
            "NumMedia": "0",
            "ToCity": "",
            "SmsSid": sid,
            "FromCountry": "US",
            "SmsStatus": "received",
            "Body": text,
            "To": to,
            "NumSegments": "1",
            "MessageSid": sid,
            "AccountSid": self.credentials["account_sid"],
            "From": sender,
            "ApiVersion": "2010-04-01",
        }
        return self._signed(url, params)

    def _signed(self, url: str, params: dict[str, str]) -> OutgoingReport:
        signature = request_signature(self.credentials["auth_token"], url, params)
        return OutgoingReport(
            url,
            urlencode(params).encode(),
            "application/x-www-form-urlencoded",
            {"X-Twilio-Signature": signature},
        )
