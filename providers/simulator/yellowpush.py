"""The YellowPush personality: ``/auth``, ``/account``, ``/send_sms`` and ``/sms_edr``.

Under ``/rest`` as in YellowPush's SDKs (``https://api.identidadsms.net/rest``):
- ``GET /auth`` with Basic ``username:password`` → ``{"token"}``; ``GET /account`` with the same
  Basic auth → ``[{"id"}]``. Anything else: ``401`` "Unauthorized client".
- ``POST /send_sms`` with ``Authorization: Bearer <token>`` and form fields ``acc_id``, ``to``
  (digits, comma-separated), ``from``, ``message``. A token not issued (or expired through the
  control API, ``POST /_sim/expire-tokens``): 401 "Unauthorized client". Missing fields: ``400
  {"message": "Missing parameters", "code": 1, "listErrors": null}``; a bad number: ``400`` with
  ``code`` 1 and ``listErrors`` naming it by position. Success: ``200 {"messageId", "status"}``
  (the SDKs read nothing from a 200; the id is the simulator's choice, read by the adapter).
- ``GET /sms_edr?client_message_id=…`` → ``[{"client_message_id", "to", "status"}]`` with status
  ``SENT`` until the report is due, then ``DELIVERED`` or ``UNDELIVERED``; ``[]`` for an unknown id.
With a report URL set for ``yellowpush`` through the control API, that list is posted there too.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

from aiohttp import web

from providers.simulator.personality import OutgoingReport, Personality, random_hex
from providers.simulator.state import AcceptedMessage

__all__ = ["YellowPushPersonality"]

_DIGITS = re.compile(r"^[1-9]\d{6,14}$")
_CODE_TEXTS = {1: "Missing parameters", 2: "Internal system error"}
ACCOUNT_ID = "1001"


class YellowPushPersonality(Personality):
    """Serves one YellowPush user, with the bearer tokens it has issued."""

    kind = "yellowpush"
    credential_settings = ("username", "password")
    reports_when_asked = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tokens: set[str] = set()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/rest/auth", self.auth)
        app.router.add_get("/rest/account", self.account)
        app.router.add_post("/rest/send_sms", self.send)
        app.router.add_get("/rest/sms_edr", self.edr)

    def expire_tokens(self) -> int:
        expired = len(self.tokens)
        self.tokens.clear()
        return expired

    def new_message_id(self) -> str:
        return str(uuid.uuid4())

    def _basic_ok(self, request: web.Request) -> bool:
        user, password = self.credentials["username"], self.credentials["password"]
        expected = base64.b64encode(f"{user}:{password}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    def _bearer_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        return header.startswith("Bearer ") and header[7:] in self.tokens

    async def auth(self, request: web.Request) -> web.StreamResponse:
        if not self._basic_ok(request):
            return self.failure(401, None)
        token = random_hex(40)
        self.tokens.add(token)
        self.state.sessions_issued[self.kind] += 1
        return web.json_response({"token": token})

    async def account(self, request: web.Request) -> web.StreamResponse:
        if not self._basic_ok(request):
            return self.failure(401, None)
        return web.json_response([{"id": ACCOUNT_ID, "name": self.credentials["username"]}])

    async def send(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self.failure(401, None)
        form = await request.post()
        fields = {k: form.get(k) for k in ("acc_id", "to", "from", "message")}
        if not all(isinstance(v, str) and v for k, v in fields.items() if k != "from"):
            return self.failure(400, 1)
        if fields["acc_id"] != ACCOUNT_ID:
            return self.failure(401, None)
        numbers = str(fields["to"]).split(",")
        bad = [
            f"Format error in mobile number {n} in position {i}"
            for i, n in enumerate(numbers, start=1)
            if not _DIGITS.match(n)
        ]
        if bad:
            body = {"message": "Error reading json", "code": 1, "listErrors": bad}
            return web.json_response(body, status=400)
        payload = {k: v for k, v in fields.items() if v is not None}
        return await self.answer_send(request, to=f"+{numbers[0]}", payload=payload)

    async def edr(self, request: web.Request) -> web.StreamResponse:
        if not self._bearer_ok(request):
            return self.failure(401, None)
        if (refused := self.lookup_refused()) is not None:
            return refused
        message = self.state.accepted(request.query.get("client_message_id", ""))
        if message is None or message.provider != self.kind:
            return web.json_response([])
        return web.json_response([self._record_of(message, final=False)])

    def _record_of(self, message: AcceptedMessage, *, final: bool) -> dict[str, str]:
        status = "SENT"
        if final or message.is_final(self.state.now_ms(), self.state.report_delay_ms):
            status = "DELIVERED" if message.report == "delivered" else "UNDELIVERED"
        return {
            "client_message_id": message.provider_message_id,
            "to": message.to.lstrip("+"),
            "status": status,
        }

    def success(self, message: AcceptedMessage, payload: Any) -> web.Response:
        return web.json_response({"messageId": message.provider_message_id, "status": "SENT"})

    def failure(self, status: int, code: str | int | None) -> web.Response:
        if status == 401:
            return web.Response(status=401, text="Unauthorized client")
        if code is None:
            return web.Response(status=status)
        number = int(code)
        body = {"message": _CODE_TEXTS.get(number, "Error"), "code": number, "listErrors": None}
        return web.json_response(body, status=status)

    def delivery_report(self, message: AcceptedMessage, url: str) -> OutgoingReport | None:
        document = [self._record_of(message, final=True)]
        return OutgoingReport(url, json.dumps(document).encode(), "application/json")
