"""The GoSMS personality: ``POST /v1/sms/send`` and the status lookup ``POST /v1/sms/get``.

Checks, in order: the bearer token (401), the JSON (400, code 1001), ``phone_number`` as digits
(400, code 2001), ``message`` of 1 to 300 characters without backticks (400, code 2002); then
``200 {"id": "<24 hex>", ...}``. Every error is ``{"errors": {"code", "message", "hash"}}``.
The webhook payload is not documented, so the status is read by polling ``/v1/sms/get``: 2 (sent)
until the report is due, then 4 (delivered) or 5 (delivery error). When a report URL is set for
``gosms`` through the control API, the same ``/sms/get`` document is also posted there.
"""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import web

from providers.simulator.personality import OutgoingReport, Personality, random_hex
from providers.simulator.state import AcceptedMessage

__all__ = ["GoSmsPersonality"]

_DIGITS = re.compile(r"^[1-9]\d{6,14}$")

# docs/ru/code-error.md
_TEXTS = {
    1000: "Неизвестная ошибка.",
    1001: "Неверный формат JSON.",
    1002: "Инстанс неактивен.",
    1003: "Инстанс удален.",
    1004: "Нет зарегистрированных устройств.",
    1005: "Отправка запрещена.",
    1006: "Превышен лимит тарифа.",
    1015: "Нет устройств, включенных для отправки.",
    1016: "Устройство не найдено.",
    1017: "to_sim указан без device_id.",
    2001: "Неверно указан номер телефона в поле phone_number.",
    2002: "Неверно указано сообщение в поле message.",
    2004: "Неверно указан callback_id.",
    2005: "Неверно указан device_id.",
    2008: "Неверно указан to_sim.",
    3000: "Аккаунт заблокирован.",
}
_STATUS_WORDS = {2: "Отправлено", 4: "Доставлено", 5: "Ошибка доставки"}


class GoSmsPersonality(Personality):
    """Serves one GoSMS account (one API token)."""

    kind = "gosms"
    credential_settings = ("api_token",)
    reports_when_asked = True

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/sms/send", self.send)
        app.router.add_post("/v1/sms/get", self.get)

    def new_message_id(self) -> str:
        return random_hex(24)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.credentials['api_token']}"

    async def _json(self, request: web.Request) -> dict[str, Any] | None:
        try:
            payload = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return None
        return payload if isinstance(payload, dict) else None

    async def send(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.failure(401, 1000)
        payload = await self._json(request)
        if payload is None:
            return self.failure(400, 1001)
        number = payload.get("phone_number")
        if not isinstance(number, str) or not _DIGITS.match(number):
            return self.failure(400, 2001)
        text = payload.get("message")
        if not isinstance(text, str) or not 1 <= len(text) <= 300 or "`" in text:
            return self.failure(400, 2002)
        return await self.answer_send(request, to=f"+{number}", payload=payload)

    async def get(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return self.failure(401, 1000)
        if (refused := self.lookup_refused()) is not None:
            return refused
        payload = await self._json(request)
        if payload is None:
            return self.failure(400, 1001)
        message = self.state.accepted(str(payload.get("id")))
        if message is None or message.provider != self.kind:
            return self.failure(404, 1000)
        return web.json_response(self._document(message))

    def _document(self, message: AcceptedMessage) -> dict[str, Any]:
        status = 2
        if message.is_final(self.state.now_ms(), self.state.report_delay_ms):
            status = 4 if message.report == "delivered" else 5
        return {
            "id": message.provider_message_id,
            "status": status,
            "callback_id": "",
            "device_id": "",
            "phone_number": message.to.lstrip("+"),
            "message_status": _STATUS_WORDS[status],
            "time_create": message.accepted_at_ms // 1000,
        }

    def success(self, message: AcceptedMessage, payload: Any) -> web.Response:
        document = self._document(message)
        document.update(message=payload["message"], status=0, message_status="Ждет обработки")
        return web.json_response(document)

    def failure(self, status: int, code: str | int | None) -> web.Response:
        number = int(code) if code is not None else 1000
        error = {"code": number, "message": _TEXTS.get(number, "Ошибка."), "hash": random_hex(12)}
        return web.json_response({"errors": error}, status=status)

    def delivery_report(self, message: AcceptedMessage, url: str) -> OutgoingReport | None:
        final = {
            **self._document(message),
            "status": 4 if message.report == "delivered" else 5,
        }
        final["message_status"] = _STATUS_WORDS[final["status"]]
        return OutgoingReport(url, json.dumps(final).encode(), "application/json")
