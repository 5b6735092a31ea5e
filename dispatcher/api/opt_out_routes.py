"""The opt-out list and erasure over HTTP, for operator keys:

- ``GET /v1/opt-outs?cursor=&count=``: a page of the list and the cursor of the next;
- ``GET /v1/opt-outs/{number}``: one entry (``?sender=`` under sender scope);
- ``PUT /v1/opt-outs/{number}``: put it on the list (201, or 200 when it was there);
- ``DELETE /v1/opt-outs/{number}``: take it off (404 when it was not on it);
- ``POST /v1/erasures`` ``{"number"}``: erase the number (every record, dead letter, inbound text
  and idempotency entry of it; its opt-out entries kept as digests), and say how many of each.

The number is E.164 (``+`` may be sent as ``%2B``), checked as ``send_sms`` checks a destination.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from dispatcher.api.common import CLIENT, DISPATCHER, error, int_param, json_body, requires
from dispatcher.errors import InvalidMessage
from dispatcher.intake.opt_outs import entry_view
from dispatcher.logs import get_logger

__all__ = ["OPT_OUT_QUERY", "add_opt_out_routes"]

# The query parameters each route takes.
OPT_OUT_QUERY: dict[str, frozenset[str]] = {
    "/v1/opt-outs": frozenset({"cursor", "count"}),
    "/v1/opt-outs/{number}": frozenset({"sender"}),
}


def _refused(exc: InvalidMessage) -> web.Response:
    return error(422, "invalid_request", str(exc), fields=exc.fields)


@requires("operate")
async def _list(request: web.Request) -> web.StreamResponse:
    try:
        cursor = int_param(request.query, "cursor", 0, 0, 2**63 - 1)
        count = int_param(request.query, "count", 100, 1, 1000)
    except InvalidMessage as exc:
        return _refused(exc)
    opt_outs = request.app[DISPATCHER].opt_outs
    page = await asyncio.to_thread(opt_outs.page, cursor=cursor, count=count)
    return web.json_response(page)


def _where(request: web.Request) -> tuple[str, str | None]:
    return request.match_info["number"], request.query.get("sender")


@requires("operate")
async def _get(request: web.Request) -> web.StreamResponse:
    number, sender = _where(request)
    try:
        entry = await asyncio.to_thread(request.app[DISPATCHER].opt_outs.get, number, sender)
    except InvalidMessage as exc:
        return _refused(exc)
    if entry is None:
        return error(404, "not_found", "this number is not on the opt-out list")
    return web.json_response(entry_view(entry))


@requires("operate")
async def _put(request: web.Request) -> web.StreamResponse:
    number, sender = _where(request)
    opt_outs = request.app[DISPATCHER].opt_outs

    def add() -> tuple[bool, dict[str, Any]]:
        added, entry = opt_outs.add(number, sender, source=f"api:{request[CLIENT].name}")
        return added, entry_view(entry)

    try:
        added, view = await asyncio.to_thread(add)
    except InvalidMessage as exc:
        return _refused(exc)
    return web.json_response({"added": added, "opt_out": view}, status=201 if added else 200)


@requires("operate")
async def _delete(request: web.Request) -> web.StreamResponse:
    number, sender = _where(request)
    opt_outs = request.app[DISPATCHER].opt_outs
    source = f"api:{request[CLIENT].name}"
    try:
        removed = await asyncio.to_thread(opt_outs.remove, number, sender, source=source)
    except InvalidMessage as exc:
        return _refused(exc)
    if not removed:
        return error(404, "not_found", "this number is not on the opt-out list")
    return web.json_response({"removed": True})


@requires("operate")
async def _erase(request: web.Request) -> web.StreamResponse:
    document = await json_body(request)
    if isinstance(document, web.Response):
        return document
    unknown = sorted(set(document) - {"number"})
    if unknown:
        fields = dict.fromkeys(unknown, "is not a known field")
        return error(422, "invalid_request", "unknown fields", fields=fields)
    dispatcher = request.app[DISPATCHER]
    try:
        erased = await asyncio.to_thread(dispatcher.erase_number, document.get("number"))
    except InvalidMessage as exc:
        return _refused(exc)
    get_logger().info("sms.erasure_requested", by=request[CLIENT].name)
    return web.json_response(erased)


def add_opt_out_routes(app: web.Application) -> None:
    """The opt-out and erasure routes on ``app``."""
    app.router.add_get("/v1/opt-outs", _list, allow_head=False)
    app.router.add_get("/v1/opt-outs/{number}", _get, allow_head=False)
    app.router.add_put("/v1/opt-outs/{number}", _put)
    app.router.add_delete("/v1/opt-outs/{number}", _delete)
    app.router.add_post("/v1/erasures", _erase)
