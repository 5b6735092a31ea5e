"""The Cecula personality: ``POST /api/sms/a2p/send``.

Checks, in order: the bearer API key (401), the JSON (400), the sender (400 ``{"code": 4001}``
when missing, ``1807`` when over 11 characters), the text (``1809`` empty, ``1808`` over 1071
characters), the recipients (``1806``, inside a ``200`` per recipient: the body is the truth).
Success is ``200 {"recipients": [{"id", "mobile", "status": "ACK", "code": 1801}],
"messageReference"}``. A scripted failure code is answered the same way: request-level codes at the
top level, recipient-level codes (``1806``) per recipient, with the scripted HTTP status (a 200 with
a failure code is what Cecula's documents warn of). A ``523`` has Cloudflare's text body.
The webhook payload is not documented; with a report URL set for ``cecula`` through the control
API, ``{"id", "messageReference", "mobile", "status": "DELIVRD" | "UNDELIV", "code"}`` is posted.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from aiohttp import web

from providers.simulator.personality import OutgoingReport, Personality
from providers.simulator.state import AcceptedMessage

__all__ = ["CeculaPersonality"]

_DIGITS = re.compile(r"^[1-9]\d{6,14}$")
_TEXTS = {
    1801: "Message sent",
    4001: "Sender ID is missing",
    1807: "Invalid sender ID",
    4002: "Sender ID is not registered",
    4003: "Sender ID was rejected",
    4004: "Sender ID is under review",
    1806: "Invalid recipients",
    1808: "Text is too long",
    1809: "Text is empty",
    1903: "Invalid broadcast time",
    1902: "Broadcast time is in the past",
    1804: "Insufficient balance",
    6000: "Template not found",
    6001: "Template is not approved",
    6002: "Template parameters do not match",
}
_RECIPIENT_CODES = frozenset({1806})


class CeculaPersonality(Personality):
    """Serves one Cecula account (one API key)."""

    kind = "cecula"
    credential_settings = ("api_key",)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/sms/a2p/send", self.send)

    def new_message_id(self) -> str:
        return str(uuid.uuid4())

    async def send(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return self.failure(405, None)
        if request.headers.get("Authorization") != f"Bearer {self.credentials['api_key']}":
            return self.failure(401, None)
        try:
            payload: Any = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return self.failure(400, None)
        if not isinstance(payload, dict):
            return self.failure(400, None)
        sender, text = payload.get("sender"), payload.get("text")
        if not isinstance(sender, str) or not sender:
            return self.failure(400, 4001)
        if len(sender) > 11:
            return self.failure(400, 1807)
        if not isinstance(text, str) or not text:
            return self.failure(400, 1809)
        if len(text) > 1071:
            return self.failure(400, 1808)
        recipients = payload.get("recipients")
        if (
            not isinstance(recipients, list)
            or len(recipients) != 1
            or not isinstance(recipients[0], str)
            or not _DIGITS.match(recipients[0])
        ):
            return self.failure(200, 1806)
        return await self.answer_send(request, to=f"+{recipients[0]}", payload=payload)

    def success(self, message: AcceptedMessage, payload: Any) -> web.Response:
        recipient = {
            "id": message.provider_message_id,
            "mobile": message.to.lstrip("+"),
            "status": "ACK",
            "code": 1801,
        }
        return web.json_response({"recipients": [recipient], "messageReference": str(uuid.uuid4())})

    def failure(self, status: int, code: str | int | None) -> web.Response:
        if status == 523:
            return web.Response(status=523, text="error code: 523")
        if code is None:
            texts = {401: "Unauthorized", 400: "Bad request", 405: "Method not allowed"}
            return web.json_response({"message": texts.get(status, "Error")}, status=status)
        number = int(code)
        text = _TEXTS.get(number, "Error")
        if number in _RECIPIENT_CODES:
            recipient = {"id": "", "mobile": "", "status": "NACK", "code": number, "message": text}
            return web.json_response(
                {"recipients": [recipient], "messageReference": str(uuid.uuid4())}, status=status
            )
        return web.json_response({"code": number, "message": text}, status=status)

    def delivery_report(self, message: AcceptedMessage, url: str) -> OutgoingReport | None:
        delivered = message.report == "delivered"
        document = {
            "id": message.provider_message_id,
            "mobile": message.to.lstrip("+"),
            "status": "DELIVRD" if delivered else "UNDELIV",
            "code": 0 if delivered else 1,
        }
        return OutgoingReport(url, json.dumps(document).encode(), "application/json")
