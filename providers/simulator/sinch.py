"""The Sinch personality of the simulator: ``POST /xms/v1/{service_plan_id}/batches`` (send) and
``GET`` on the same path (List Batches, searched by ``client_reference`` from ``start_date``:
answered from the batches it accepted, and failed on demand through ``/_sim/lookup-outage``).

It checks what Sinch checks, in the order a client meets it: the bearer token for the service
plan (401), the content type (415), the JSON (400 ``syntax_invalid_json``), the recipients (400
``syntax_invalid_parameter_format``) and the body (400 ``syntax_constraint_violation``), then
answers ``201`` with the batch. 400 and 403 carry ``{"code", "text"}``; a 404 has no body, as
documented. With ``delivery_report`` other than ``none`` and a ``callback_url`` (in the request, or
set for ``sinch`` through the control API), it posts a ``recipient_delivery_report_sms``, signed
when a ``webhook_secret`` is configured; asking for a report with no URL anywhere is Sinch's 403
``missing_callback_url``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from providers.adapters.sinch import callback_signature
from providers.simulator.personality import OutgoingReport, Personality, random_hex
from providers.simulator.state import AcceptedMessage

__all__ = ["SinchPersonality"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")

# Sinch's own words for documented error codes, for bodies the simulator makes up.
_TEXTS = {
    "syntax_invalid_json": "The JSON in the request is invalid",
    "syntax_invalid_parameter_format": "Invalid MSISDN in 'to'",
    "syntax_constraint_violation": "'body' is missing or over 2000 characters",
    "unknown_group": "Group not found",
    "unknown_campaign": "Campaign not found",
    "missing_callback_url": "No callback URL is set for delivery reports",
    "blocked_account": "The account is blocked",
    "illegal_number_type": "The destination number type is not allowed",
}
_DEFAULT_CODE = {400: "syntax_constraint_violation", 403: "blocked_account"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch_ms(iso: str) -> int:
    """An ISO-8601 time (``YYYY-MM-DDThh:mm:ss.SSSZ``) as epoch ms; ValueError if it is not one."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


class SinchPersonality(Personality):
    """Serves the Sinch batches endpoint for one service plan and token."""

    kind = "sinch"
    credential_settings = ("service_plan_id", "api_token")

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/xms/v1/{plan}/batches", self.batches)

    def new_message_id(self) -> str:
        return base64.b32encode(os.urandom(20)).decode()[:26]

    def _authorized(self, request: web.Request) -> bool:
        return (
            request.match_info["plan"] == self.credentials["service_plan_id"]
            and request.headers.get("Authorization") == f"Bearer {self.credentials['api_token']}"
        )

    async def batches(self, request: web.Request) -> web.StreamResponse:
        if request.method == "GET":
            return self.list_batches(request)
        if request.method != "POST":
            return web.Response(status=405)
        if not self._authorized(request):
            return self.failure(401, None)
        if request.content_type != "application/json":
            return web.Response(status=415)
        try:
            payload: Any = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return self.failure(400, "syntax_invalid_json")
        if not isinstance(payload, dict):
            return self.failure(400, "syntax_invalid_json")
        to = payload.get("to")
        if (
            not isinstance(to, list)
            or not 1 <= len(to) <= 1000
            or not all(isinstance(n, str) and _E164.match(n) for n in to)
        ):
            return self.failure(400, "syntax_invalid_parameter_format")
        body = payload.get("body")
        if not isinstance(body, str) or not body or len(body) > 2000:
            return self.failure(400, "syntax_constraint_violation")
        reference = payload.get("client_reference")
        wants_report = payload.get("delivery_report", "none") != "none"
        callback = payload.get("callback_url") if wants_report else None
        if wants_report and not callback and "sinch" not in self.state.report_urls:
            return self.failure(403, "missing_callback_url")
        return await self.answer_send(
            request,
            to=to[0],
            payload=payload,
            client_reference=reference if isinstance(reference, str) else None,
            callback_url=callback if isinstance(callback, str) else None,
        )

    def list_batches(self, request: web.Request) -> web.StreamResponse:
        """List Batches, as far as a search by ``client_reference`` goes: the batches accepted
        with it at or after ``start_date`` (default: the last 24 hours), oldest first."""
        if not self._authorized(request):
            return self.failure(401, None)
        if (refused := self.lookup_refused()) is not None:
            return refused
        query = request.query
        try:
            since_ms = _epoch_ms(query["start_date"]) if "start_date" in query else None
            page_size = int(query.get("page_size", "30"))
        except ValueError:
            return self.failure(400, "syntax_invalid_parameter_format")
        if since_ms is None:
            since_ms = self.state.now_ms() - 86_400_000
        reference = query.get("client_reference")
        found = [
            m
            for m in (
                self.state.accepted_with_reference(self.kind, reference)
                if reference is not None
                else []
            )
            if m.accepted_at_ms >= since_ms
        ]
        batches = [
            {
                "id": m.provider_message_id,
                "to": [m.to],
                "type": "mt_text",
                "canceled": False,
                "client_reference": m.client_reference,
                "created_at": _iso(m.accepted_at_ms),
            }
            for m in found[:page_size]
        ]
        return web.json_response(
            {"count": len(found), "page": 0, "page_size": page_size, "batches": batches}
        )

    def success(self, message: AcceptedMessage, payload: Any) -> web.Response:
        now = _now()
        batch = {
            "id": message.provider_message_id,
            "to": payload["to"],
            "from": payload.get("from", ""),
            "canceled": False,
            "body": payload["body"],
            "type": "mt_text",
            "created_at": now,
            "modified_at": now,
            "delivery_report": payload.get("delivery_report", "none"),
            "flash_message": False,
        }
        for optional in ("client_reference", "expire_at", "callback_url"):
            if optional in payload:
                batch[optional] = payload[optional]
        return web.json_response(batch, status=201)

    def failure(self, status: int, code: str | int | None) -> web.Response:
        if status == 401:
            return web.Response(status=401, text="Unauthorized")
        if status in (400, 403):
            word = str(code) if code is not None else _DEFAULT_CODE[status]
            text = _TEXTS.get(word, word.replace("_", " "))
            return web.json_response({"code": word, "text": text}, status=status)
        return web.Response(status=status)  # 404 and the others: no body

    def delivery_report(self, message: AcceptedMessage, url: str) -> OutgoingReport | None:
        status, code = {
            "delivered": ("Delivered", 0),
            "failed_temporarily": ("Failed", 404),  # temporary delivery failure
        }.get(message.report, ("Failed", 402))  # unroutable
        document: dict[str, Any] = {
            "type": "recipient_delivery_report_sms",
            "batch_id": message.provider_message_id,
            "recipient": message.to,
            "code": code,
            "status": status,
            "at": _now(),
            "operator_status_at": _now(),
        }
        if message.client_reference is not None:
            document["client_reference"] = message.client_reference
        return self._signed(url, document)

    def inbound_post(self, url: str, sender: str, to: str, text: str) -> OutgoingReport | None:
        """An ``mo_text`` callback: numbers without their +, signed as reports are."""
        document = {
            "type": "mo_text",
            "id": random_hex(26).upper(),
            "from": sender.lstrip("+"),
            "to": to.lstrip("+"),
            "body": text,
            "received_at": _now(),
            "operator_id": "24001",
        }
        return self._signed(url, document)

    def _signed(self, url: str, document: dict[str, Any]) -> OutgoingReport:
        body = json.dumps(document).encode()
        headers = {}
        secret = self.credentials.get("webhook_secret")
        if secret:
            nonce, timestamp = base64.b64encode(os.urandom(12)).decode(), str(int(time.time()))
            headers = {
                "x-sinch-webhook-signature": callback_signature(secret, body, nonce, timestamp),
                "x-sinch-webhook-signature-nonce": nonce,
                "x-sinch-webhook-signature-timestamp": timestamp,
                "x-sinch-webhook-signature-algorithm": "HmacSHA256",
            }
        return OutgoingReport(url, body, "application/json", headers)
