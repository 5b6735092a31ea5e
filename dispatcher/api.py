"""The HTTP API (aiohttp web): enqueue and read messages over JSON.

- ``POST /v1/messages`` → ``202 {"id", "state", "segments", "encoding"}``; ``422`` with
  ``{"error": {"code", "message", "fields"}}`` for bad input; ``409`` on an idempotency conflict.
- ``GET /v1/messages/{id}`` → the status of a message.
- ``GET /healthz`` → ``200`` while the process runs.

Every route under ``/v1`` needs ``Authorization: Bearer <key>`` with a key from
``SMSD_API__API_KEYS`` (comma-separated), compared in constant time. The enqueue core is the same
:class:`~dispatcher.enqueue.Dispatcher` as ``send_sms``; its blocking Redis calls run in threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from dispatcher.enqueue import Dispatcher
from dispatcher.errors import EnqueueError, IdempotencyConflict, InvalidMessage, MessageNotFound

__all__ = ["build_api", "serve_api"]

DISPATCHER_KEY = web.AppKey("dispatcher", Dispatcher)
KEY_DIGESTS = web.AppKey("key_digests", tuple)
MAX_BODY_BYTES = 64 * 1024

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


@web.middleware
async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    presented = _digest(key.strip()) if scheme.lower() == "bearer" and key.strip() else b""
    known: tuple[bytes, ...] = request.app[KEY_DIGESTS]
    # Compare against every key, always, so timing does not tell how many matched.
    matched = False
    for digest in known:
        matched |= hmac.compare_digest(presented, digest)
    if not presented or not matched:
        return _error(401, "unauthorized", "a valid API key is required as 'Authorization: Bearer'")
    return await handler(request)


async def _create_message(request: web.Request) -> web.Response:
    if request.content_type != "application/json":
        return _error(415, "unsupported_media_type", "send application/json")
    try:
        document = json.loads(await request.read())
    except (ValueError, UnicodeDecodeError):
        return _error(400, "malformed_json", "the request body is not valid JSON")
    if not isinstance(document, dict):
        return _error(422, "invalid_message", "the request body must be a JSON object")
    header_key = request.headers.get("Idempotency-Key")
    if header_key is not None:
        document.setdefault("idempotency_key", header_key)
    dispatcher = request.app[DISPATCHER_KEY]
    try:
        message = dispatcher.validate(**document)
        receipt = await asyncio.to_thread(dispatcher.enqueue, message)
    except InvalidMessage as exc:
        return _error(422, "invalid_message", str(exc), fields=exc.fields)
    except IdempotencyConflict as exc:
        return _error(409, "idempotency_conflict", str(exc), message_id=exc.message_id)
    except EnqueueError:
        return _error(503, "enqueue_unavailable", "the message could not be queued; retry later")
    status = 200 if receipt.duplicate else 202
    return web.json_response(
        {
            "id": receipt.id,
            "state": receipt.state,
            "segments": receipt.segments,
            "encoding": receipt.encoding,
        },
        status=status,
    )


async def _get_message(request: web.Request) -> web.Response:
    dispatcher = request.app[DISPATCHER_KEY]
    try:
        status = await asyncio.to_thread(dispatcher.get_status, request.match_info["id"])
    except MessageNotFound:
        return _error(404, "not_found", "no message with this id")
    return web.json_response(status)


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def build_api(dispatcher: Dispatcher, api_keys: list[str]) -> web.Application:
    """The API application; refuses to build without at least one key."""
    if not api_keys:
        raise ValueError("no API key: set SMSD_API__API_KEYS")
    app = web.Application(middlewares=[_authenticate], client_max_size=MAX_BODY_BYTES)
    app[DISPATCHER_KEY] = dispatcher
    app[KEY_DIGESTS] = tuple(_digest(k) for k in api_keys)
    app.router.add_post("/v1/messages", _create_message)
    app.router.add_get("/v1/messages/{id}", _get_message)
    app.router.add_get("/healthz", _healthz)
    return app


async def serve_api(app: web.Application, *, host: str, port: int) -> None:
    """Serve until cancelled."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
