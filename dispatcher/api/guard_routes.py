"""The pumping guard over HTTP:

- ``POST /v1/messages/{id}/conversion``, keys that send: the web app used the message (the
  one-time code was typed in); an OTP's first report counts for its country's brake;
- ``GET /v1/guard/brakes``, keys that operate: the brakes put on;
- ``DELETE /v1/guard/brakes/{country}``, keys that operate: take one off, with a fresh start.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from dispatcher.api.common import DISPATCHER, error, requires
from dispatcher.errors import InvalidMessage, MessageNotFound

__all__ = ["add_guard_routes"]


@requires("send")
async def _conversion(request: web.Request) -> web.StreamResponse:
    message_id = request.match_info["id"]
    try:
        noted = await asyncio.to_thread(request.app[DISPATCHER].report_conversion, message_id)
    except MessageNotFound:
        return error(404, "not_found", f"no message {message_id}")
    return web.json_response(noted)


@requires("operate")
async def _brakes(request: web.Request) -> web.StreamResponse:
    found = await asyncio.to_thread(request.app[DISPATCHER].pumping_guard.brakes)
    return web.json_response({"brakes": found})


@requires("operate")
async def _release(request: web.Request) -> web.StreamResponse:
    country = request.match_info["country"]
    guard = request.app[DISPATCHER].pumping_guard
    try:
        released = await asyncio.to_thread(guard.release, country)
    except InvalidMessage as exc:
        return error(422, "invalid_request", str(exc), fields=exc.fields)
    if not released:
        return error(404, "not_found", f"no brake is on for {country}")
    return web.json_response({"country": country, "released": True})


def add_guard_routes(app: web.Application) -> None:
    """The pumping guard's routes on ``app``."""
    app.router.add_post("/v1/messages/{id}/conversion", _conversion)
    app.router.add_get("/v1/guard/brakes", _brakes, allow_head=False)
    app.router.add_delete("/v1/guard/brakes/{country}", _release)
