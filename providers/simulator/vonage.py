"""The Vonage personality: ``POST /sms/json``, always answering ``200``.

Checks, as Vonage does, inside the 200: ``api_key`` / ``api_secret`` (status ``4`` "Bad
Credentials"), ``from``, ``to`` and ``text`` present (``2``), ``to`` as digits (``3``); then
``{"message-count": "1", "messages": [{"to", "message-id", "status": "0", ...}]}``. A scripted
code is answered the same way (status ``"1"`` to ``"9"`` with its ``error-text``). With a report
URL set for ``vonage`` through the control API, a JSON delivery receipt ``{"msisdn", "to",
"messageId", "status": "delivered" | "failed", "err-code", "client-ref", ...}`` is posted.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from providers.simulator.personality import OutgoingReport, Personality, random_hex
from providers.simulator.state import AcceptedMessage

__all__ = ["VonagePersonality"]

_DIGITS = re.compile(r"^[1-9]\d{6,14}$")
_TEXTS = {
    "1": "Throttled",
    "2": "Missing Parameters",
    "3": "Invalid Parameters",
    "4": "Bad Credentials",
    "5": "Internal Error",
    "6": "Invalid Message",
    "7": "Number Barred",
    "8": "Partner Account Barred",
    "9": "Partner Quota Violation",
}


class VonagePersonality(Personality):
    """Serves one Vonage API key."""

    kind = "vonage"
    credential_settings = ("api_key", "api_secret")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/sms/json", self.send)

    def new_message_id(self) -> str:
        return random_hex(16).upper()

    async def send(self, request: web.Request) -> web.StreamResponse:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if (form.get("api_key"), form.get("api_secret")) != (
            self.credentials["api_key"],
            self.credentials["api_secret"],
        ):
            return self.failure(200, "4")
        if not all(form.get(k) for k in ("from", "to", "text")):
            return self.failure(200, "2")
        if not _DIGITS.match(form["to"]):
            return self.failure(200, "3")
        public = {k: v for k, v in form.items() if k != "api_secret"}
        return await self.answer_send(
            request, to=f"+{form['to']}", payload=public, client_reference=form.get("client-ref")
        )

    def success(self, message: AcceptedMessage, payload: Any) -> web.Response:
        entry = {
            "to": message.to.lstrip("+"),
            "message-id": message.provider_message_id,
            "status": "0",
            "remaining-balance": "10.00",
            "message-price": "0.03",
            "network": "12345",
        }
        if message.client_reference:
            entry["client-ref"] = message.client_reference
        return web.json_response({"message-count": "1", "messages": [entry]})

    def failure(self, status: int, code: str | int | None) -> web.Response:
        if code is None:
            return web.Response(status=status)
        word = str(code)
        entry = {"status": word, "error-text": _TEXTS.get(word, "Unknown error")}
        return web.json_response({"message-count": "1", "messages": [entry]}, status=status)

    def inbound_post(self, url: str, sender: str, to: str, text: str) -> OutgoingReport | None:
        """The inbound webhook as the dashboard's "POST" format sends it (a form)."""
        words = text.split()
        params = {
            "msisdn": sender.lstrip("+"),
            "to": to.lstrip("+"),
            "messageId": random_hex(16).upper(),
            "text": text,
            "type": "text",
            "keyword": words[0].upper() if words else "",
            "api-key": self.credentials["api_key"],
            "message-timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        }
        return OutgoingReport(url, urlencode(params).encode(), "application/x-www-form-urlencoded")

    def delivery_report(self, message: AcceptedMessage, url: str) -> OutgoingReport | None:
        delivered = message.report == "delivered"
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        document = {
            "msisdn": message.to.lstrip("+"),
            "to": "Vonage",
            "network-code": "12345",
            "messageId": message.provider_message_id,
            "price": "0.03",
            "status": "delivered" if delivered else "failed",
            "scts": datetime.now(UTC).strftime("%y%m%d%H%M"),
            # absent subscriber: temporary (2) or permanent (3)
            "err-code": "0"
            if delivered
            else ("2" if message.report == "failed_temporarily" else "3"),
            "message-timestamp": stamp,
        }
        if message.client_reference:
            document["client-ref"] = message.client_reference
        return OutgoingReport(url, json.dumps(document).encode(), "application/json")
