"""The Sinch personality of the simulator: ``POST /xms/v1/{service_plan_id}/batches``.

It checks what Sinch checks, in the order a client meets it: the bearer token for the service
plan (401), the content type (415), the JSON (400 ``syntax_invalid_json``), the recipients (400
``syntax_invalid_parameter_format``) and the body (400 ``syntax_constraint_violation``), then
answers ``201`` with the batch. A 404 has no body, as documented. Scripted answers replace
the success.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from providers.simulator.state import ReceivedRequest, ScriptedAnswer, SimulatorState

__all__ = ["SinchPersonality"]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def _batch_id() -> str:
    return base64.b32encode(os.urandom(20)).decode()[:26]


def _error(status: int, code: str, text: str) -> web.Response:
    return web.json_response({"code": code, "text": text}, status=status)


class SinchPersonality:
    """Serves the Sinch batches endpoint for one service plan and token."""

    name = "sinch"

    def __init__(self, state: SimulatorState, *, service_plan_id: str, api_token: str) -> None:
        self._state = state
        self._plan = service_plan_id
        self._token = api_token

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/xms/v1/{plan}/batches", self.batches)

    async def batches(self, request: web.Request) -> web.StreamResponse:
        if request.method != "POST":
            return web.Response(status=405)
        authorization_ok = (
            request.match_info["plan"] == self._plan
            and request.headers.get("Authorization") == f"Bearer {self._token}"
        )
        if not authorization_ok:
            # Undocumented body: Sinch's 401 is answered with no JSON here.
            return web.Response(status=401, text="Unauthorized")
        if request.content_type != "application/json":
            return web.Response(status=415)
        raw = await request.read()
        try:
            payload: Any = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return _error(400, "syntax_invalid_json", "The JSON in the request is invalid")
        if not isinstance(payload, dict):
            return _error(400, "syntax_invalid_json", "The request is not a JSON object")
        to = payload.get("to")
        if (
            not isinstance(to, list)
            or not 1 <= len(to) <= 1000
            or not all(isinstance(n, str) and _E164.match(n) for n in to)
        ):
            return _error(400, "syntax_invalid_parameter_format", "Invalid MSISDN in 'to'")
        body = payload.get("body")
        if not isinstance(body, str) or not body or len(body) > 2000:
            return _error(
                400, "syntax_constraint_violation", "'body' is missing or over 2000 characters"
            )
        reference = payload.get("client_reference")
        reference = reference if isinstance(reference, str) else None

        outage = self._state.outage_status()
        if outage is not None:
            self._record(to, payload, reference, outage, None)
            return web.Response(status=outage, text="Service Unavailable")
        scripted = self._state.next_answer(to[0])
        delay_ms = self._state.latency_ms + (scripted.delay_ms if scripted else 0)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        if scripted is None or scripted.success:
            batch_id = _batch_id()
            self._record(to, payload, reference, 201, batch_id)
            return web.json_response(self._batch(batch_id, payload), status=201)
        self._record(to, payload, reference, scripted.status, None)
        return _scripted_response(scripted)

    def _record(
        self, to: list[str], payload: Any, reference: str | None, status: int, batch_id: str | None
    ) -> None:
        self._state.record(
            ReceivedRequest(
                provider=self.name,
                path=f"/xms/v1/{self._plan}/batches",
                to=list(to),
                payload=payload,
                authorization_ok=True,
                client_reference=reference,
                status=status,
                provider_message_id=batch_id,
                received_at_ms=self._state.now_ms(),
            )
        )

    @staticmethod
    def _batch(batch_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        batch = {
            "id": batch_id,
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
        return batch


def _scripted_response(answer: ScriptedAnswer) -> web.Response:
    if answer.raw is not None:
        return web.Response(status=answer.status, text=answer.raw, headers=answer.headers)
    if answer.body is None:
        return web.Response(status=answer.status, headers=answer.headers)
    return web.json_response(answer.body, status=answer.status, headers=answer.headers)
