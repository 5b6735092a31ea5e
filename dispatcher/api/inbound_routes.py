"""Inbound texts over HTTP:

- ``POST /v1/inbound/{provider}``: the provider's inbound webhook (its signature, or the URL's
  ``?token=``), answered as the provider expects (Twilio: empty TwiML);
- ``GET /v1/inbound?limit=&offset=``: the latest inbound texts, senders masked (operator keys).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from dispatcher.api.common import (
    DISPATCHER,
    SETTINGS,
    error,
    int_param,
    provider_post,
    requires,
)
from dispatcher.errors import InvalidMessage
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.intake.inbound import Reply, receive_inbound

__all__ = ["INBOUND_QUERY", "add_inbound_routes"]

INBOUND_QUERY: dict[str, frozenset[str]] = {
    "/v1/inbound": frozenset({"limit", "offset"}),
    "/v1/inbound/{provider}": frozenset({"token"}),
}


def _replier(dispatcher: Dispatcher) -> Reply:
    def reply(to: str, text: str, sender: str, provider: str) -> None:
        """A keyword's reply: transactional, through the provider the text came by, from the
        number it was sent to, never blocked by the opt-out list."""
        message = dispatcher.validate(
            to=to, body=text, sender=sender, providers=[provider], category="transactional"
        )
        dispatcher.enqueue_record(dispatcher.prepare(message, checks_opt_outs=False))

    return reply


async def _receive(request: web.Request) -> web.Response:
    called = await provider_post(request)
    if isinstance(called, web.Response):
        return called
    provider, post = called
    dispatcher = request.app[DISPATCHER]
    answer = await asyncio.to_thread(
        receive_inbound,
        provider,
        post,
        settings=request.app[SETTINGS],
        store=dispatcher.inbound,
        opt_outs=dispatcher.opt_outs,
        reply=_replier(dispatcher),
    )
    return web.Response(
        status=answer.status,
        body=answer.body,
        content_type=answer.content_type,
        headers=answer.headers,
    )


@requires("operate")
async def _latest(request: web.Request) -> web.StreamResponse:
    try:
        limit = int_param(request.query, "limit", 50, 1, 1000)
        offset = int_param(request.query, "offset", 0, 0, 10_000_000)
    except InvalidMessage as exc:
        return error(422, "invalid_request", str(exc), fields=exc.fields)
    store = request.app[DISPATCHER].inbound

    def page() -> dict[str, object]:
        items = [m.public_view() for m in store.latest(limit=limit, offset=offset)]
        return {"total": store.count(), "items": items}

    return web.json_response(await asyncio.to_thread(page))


def add_inbound_routes(app: web.Application) -> None:
    """The inbound routes on ``app``."""
    app.router.add_post("/v1/inbound/{provider}", _receive)
    app.router.add_get("/v1/inbound", _latest, allow_head=False)
