"""The HTTP API (aiohttp web), for web apps not written in Python and for operators.

Routes (the OpenAPI document at ``/openapi.json`` describes each, see
:mod:`dispatcher.api.openapi`):

- ``POST /v1/messages``, ``POST /v1/messages:batch``, ``GET|DELETE /v1/messages/{id}``,
  ``DELETE /v1/campaigns/{tag}``: keys that send;
- ``GET /v1/dead-letters``, ``POST /v1/dead-letters/{id}/replay``: keys that operate;
- ``GET /v1/opt-outs``, ``GET|PUT|DELETE /v1/opt-outs/{number}``: keys that operate
  (:mod:`dispatcher.api.opt_out_routes`);
- ``POST /v1/delivery-reports/{provider}``, ``POST /v1/inbound/{provider}``: provider callbacks
  (signature or URL token); ``GET /v1/inbound``: keys that operate
  (:mod:`dispatcher.api.inbound_routes`);
- ``POST /v1/messages/{id}/conversion``: keys that send; ``GET /v1/guard/brakes``,
  ``DELETE /v1/guard/brakes/{country}``: keys that operate (:mod:`dispatcher.api.guard_routes`);
- ``GET /v1/dashboard``: keys that operate (the data of the dashboard page);
- ``GET /healthz``, ``GET /readyz``, ``GET /metrics``, ``GET /openapi.json``, and the dashboard
  page itself (``/dashboard``, which holds no data): open.

Every refusal is a JSON ``{"error": {"code", "message", ...}}`` with a stable ``code``; nothing
reaches a client as an HTML page or a bare 500. Enqueueing goes through the same
:class:`~dispatcher.intake.enqueue.Dispatcher` as ``send_sms`` (one path for validation, idempotency
and publishing); its blocking Redis calls run in threads.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from dispatcher.api.api_keys import KeyRing, RequestLimiter
from dispatcher.api.common import (
    CLIENT,
    DISPATCHER,
    DOCUMENT,
    KEYRING,
    LIMITER,
    METRICS,
    PROVIDERS,
    SETTINGS,
    Handler,
    error,
    int_param,
    json_body,
    provider_post,
    requires,
)
from dispatcher.api.guard_routes import add_guard_routes
from dispatcher.api.inbound_routes import INBOUND_QUERY, add_inbound_routes
from dispatcher.api.openapi import openapi_document
from dispatcher.api.opt_out_routes import OPT_OUT_QUERY, add_opt_out_routes
from dispatcher.config.settings import Settings
from dispatcher.core.clock import now_ms
from dispatcher.core.report_resend import ResendRules
from dispatcher.core.time_input import parse_since
from dispatcher.errors import (
    ConfigError,
    EnqueueError,
    IdempotencyConflict,
    InvalidMessage,
    MessageNotFound,
    NotADeadLetterError,
    NotCancelable,
    Refused,
    StoreError,
    StoreOutOfMemoryError,
)
from dispatcher.intake.delivery_reports import receive_reports
from dispatcher.intake.enqueue import Dispatcher, Receipt
from dispatcher.intake.replay import replay_dead_letter
from dispatcher.intake.validation import validate_campaign
from dispatcher.logs import get_logger, register_secrets
from dispatcher.ops.dead_letters import DeadLetterFilter, DeadLetters, dead_letter_filter_problems
from dispatcher.ops.metrics import ApiMetrics
from dispatcher.ops.stats import hour_series, stats_snapshot, workers
from dispatcher.store.heartbeats import stale_after_ms
from dispatcher.store.redis_memory import RedisMemory, redis_memory
from providers.base import Provider

__all__ = ["build_api", "serve_api"]

RESEND_RULES = web.AppKey("resend_rules", ResendRules)

_MESSAGE_STATUSES = {
    400: "malformed_json",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


# --- middlewares ------------------------------------------------------------------------------


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every refusal as JSON with a stable code; an unexpected failure as a logged JSON 500."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _MESSAGE_STATUSES.get(exc.status, "http_error")
        response = error(exc.status, code, exc.reason, headers=_kept_headers(exc))
    except StoreError as exc:
        get_logger().error("api.redis_error", path=request.path, error=exc.error)
        why = ": Redis is out of memory" if isinstance(exc, StoreOutOfMemoryError) else ""
        response = error(
            503,
            "unavailable",
            f"the message store is unavailable{why}",
            headers={"Retry-After": "1"},
        )
    except Exception as exc:
        get_logger().exception("api.unexpected_error", path=request.path, error=type(exc).__name__)
        response = error(500, "internal_error", "an unexpected error; it has been logged")
    route = request.match_info.route.resource
    request.app[METRICS].requests.labels(
        route=route.canonical if route is not None else "unmatched", status=str(response.status)
    ).inc()
    return response


def _kept_headers(exc: web.HTTPException) -> dict[str, str]:
    return {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")}


_QUERY_PARAMETERS: dict[str, frozenset[str]] = {
    "/v1/dead-letters": frozenset({"provider", "reason", "since", "limit", "offset"}),
    "/v1/delivery-reports/{provider}": frozenset({"token"}),
    **OPT_OUT_QUERY,
    **INBOUND_QUERY,
}


@web.middleware
async def _known_query(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A query parameter a route does not take is refused, as an unknown field is."""
    resource = request.match_info.route.resource
    if resource is not None and request.query:
        allowed = _QUERY_PARAMETERS.get(resource.canonical, frozenset())
        unknown = sorted(set(request.query) - allowed)
        if unknown:
            return error(
                422,
                "invalid_request",
                "unknown query parameters",
                fields=dict.fromkeys(unknown[:10], "is not a known query parameter"),
            )
        repeated = sorted(
            name for name in set(request.query) if len(request.query.getall(name)) > 1
        )
        if repeated:
            return error(
                422,
                "invalid_request",
                "query parameters given more than once",
                fields=dict.fromkeys(repeated, "is given more than once"),
            )
    return await handler(request)


def _needs_key(path: str) -> bool:
    """Provider callbacks carry their own proof instead of a key."""
    return path.startswith("/v1/") and not path.startswith(
        ("/v1/delivery-reports/", "/v1/inbound/")
    )


@web.middleware
async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Authorization: Bearer <key>`` on /v1 (but provider callbacks), then the key's rate."""
    if not _needs_key(request.path):
        return await handler(request)
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    client = request.app[KEYRING].identify(key.strip()) if scheme.lower() == "bearer" else None
    if client is None:
        return error(
            401,
            "unauthorized",
            "a valid API key is required as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        wait_ms = await asyncio.to_thread(request.app[LIMITER].wait_ms, client, now_ms=now_ms())
    except StoreOutOfMemoryError:
        # A full Redis cannot count the request. Let it through: reads still work, and a send
        # is refused by the door with the reason.
        wait_ms = 0
    if wait_ms > 0:
        return error(
            429,
            "rate_limited",
            f"key {client.name!r} is over its rate limit of {client.rate_limit:g} requests/s",
            headers={"Retry-After": str(max(1, math.ceil(wait_ms / 1000)))},
        )
    request[CLIENT] = client
    return await handler(request)


# --- messages ---------------------------------------------------------------------------------


def _receipt_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "id": receipt.id,
        "state": receipt.state,
        "segments": receipt.segments,
        "encoding": receipt.encoding,
        "smart_encoded": receipt.smart_encoded,
        "duplicate": receipt.duplicate,
    }


def _refusal(exc: Refused) -> web.Response:
    """A guard's refusal: 429 with ``Retry-After`` when waiting helps, else 422."""
    extra: dict[str, Any] = {"fields": {exc.field: str(exc)}}
    if exc.limit is not None:
        extra["limit"] = exc.limit
    if exc.retry_after_s is None:
        return error(422, exc.code, str(exc), **extra)
    extra["retry_after_s"] = exc.retry_after_s
    headers = {"Retry-After": str(exc.retry_after_s)}
    return error(429, exc.code, str(exc), headers=headers, **extra)


@requires("send")
async def _create_message(request: web.Request) -> web.StreamResponse:
    document = await json_body(request)
    if isinstance(document, web.Response):
        return document
    header_key = request.headers.get("Idempotency-Key")
    if header_key is not None:
        if document.get("idempotency_key", header_key) != header_key:
            return error(
                422,
                "invalid_message",
                "the Idempotency-Key header and the idempotency_key field differ",
                fields={"idempotency_key": "differs from the Idempotency-Key header"},
            )
        document["idempotency_key"] = header_key
    dispatcher = request.app[DISPATCHER]
    client = request[CLIENT]
    try:
        message = dispatcher.validate(**{str(k): v for k, v in document.items()})
        receipt = await asyncio.to_thread(
            dispatcher.enqueue, message, idempotency_scope=client.name, key=client.rules
        )
    except InvalidMessage as exc:
        return error(422, "invalid_message", str(exc), fields=exc.fields)
    except Refused as exc:
        return _refusal(exc)
    except IdempotencyConflict as exc:
        return error(409, "idempotency_conflict", str(exc), message_id=exc.message_id)
    except EnqueueError as exc:
        return error(503, "enqueue_unavailable", f"the message could not be queued: {exc}; retry")
    return web.json_response(_receipt_json(receipt), status=200 if receipt.duplicate else 202)


@requires("send")
async def _create_batch(request: web.Request) -> web.StreamResponse:
    document = await json_body(request)
    if isinstance(document, web.Response):
        return document
    limit = request.app[SETTINGS].api.max_batch
    unknown = sorted(set(document) - {"messages"})
    messages = document.get("messages")
    problem = None
    if unknown:
        problem = dict.fromkeys(unknown, "is not a known field")
    elif not isinstance(messages, list) or not messages:
        problem = {"messages": "must be a non-empty list of messages"}
    elif len(messages) > limit:
        problem = {"messages": f"holds {len(messages)} messages; at most {limit} per batch"}
    else:
        not_objects = [i for i, item in enumerate(messages) if not isinstance(item, dict)]
        if not_objects:
            problem = {f"messages[{i}]": "must be an object" for i in not_objects[:10]}
    if problem is not None:
        return error(422, "invalid_request", "the batch is not valid", fields=problem)
    assert isinstance(messages, list)
    client = request[CLIENT]
    try:
        results = await asyncio.to_thread(
            request.app[DISPATCHER].send_bulk,
            messages,
            idempotency_scope=client.name,
            key=client.rules,
        )
    except EnqueueError as exc:
        reason = (
            f"the batch could not be queued whole: {exc}; its first messages may be queued "
            "already: send the batch again with the same idempotency keys"
        )
        return error(503, "enqueue_unavailable", reason)
    refused_count = sum(1 for r in results if "error" in r)
    return web.json_response(
        {"accepted": len(results) - refused_count, "refused": refused_count, "results": results}
    )


@requires("send")
async def _get_message(request: web.Request) -> web.StreamResponse:
    dispatcher = request.app[DISPATCHER]
    try:
        status = await asyncio.to_thread(dispatcher.get_status, request.match_info["id"])
    except MessageNotFound:
        return error(404, "not_found", "no message with this id")
    return web.json_response(status)


@requires("send")
async def _cancel_message(request: web.Request) -> web.StreamResponse:
    dispatcher = request.app[DISPATCHER]
    try:
        status = await asyncio.to_thread(dispatcher.cancel, request.match_info["id"])
    except MessageNotFound:
        return error(404, "not_found", "no message with this id")
    except NotCancelable as exc:
        return error(409, "not_cancelable", str(exc), message_id=exc.message_id, state=exc.state)
    return web.json_response(status)


@requires("send")
async def _cancel_campaign(request: web.Request) -> web.StreamResponse:
    tag = request.match_info["tag"]
    try:
        validate_campaign(tag)
    except InvalidMessage as exc:
        return error(422, "invalid_request", str(exc), fields=exc.fields)
    return web.json_response(await asyncio.to_thread(request.app[DISPATCHER].cancel_campaign, tag))


# --- dead letters -----------------------------------------------------------------------------


@requires("operate")
async def _list_dead_letters(request: web.Request) -> web.StreamResponse:
    query = request.query
    try:
        limit = int_param(query, "limit", 50, 1, 1000)
        offset = int_param(query, "offset", 0, 0, 10_000_000)
        since = query.get("since")
        since_ms = parse_since(since, now_ms=now_ms()) if since else None
    except InvalidMessage as exc:
        return error(422, "invalid_request", str(exc), fields=exc.fields)
    except ValueError as exc:
        return error(422, "invalid_request", str(exc), fields={"since": str(exc)})
    problems = dead_letter_filter_problems(query.get("provider"), query.get("reason"))
    if problems:
        return error(422, "invalid_request", "the filter is not valid", fields=problems)
    wanted = DeadLetterFilter(
        provider=query.get("provider"), reason=query.get("reason"), since_ms=since_ms
    )
    letters = DeadLetters(request.app[DISPATCHER].store)

    def page() -> dict[str, Any]:
        items = letters.page(wanted, offset=offset, limit=limit)
        return {"total": letters.count(), "items": items}

    return web.json_response(await asyncio.to_thread(page))


@requires("operate")
async def _replay_dead_letter(request: web.Request) -> web.StreamResponse:
    original = request.match_info["id"]
    try:
        new_id = await asyncio.to_thread(replay_dead_letter, request.app[DISPATCHER], original)
    except NotADeadLetterError:
        return error(404, "not_found", "no dead letter with this id (replayed or purged?)")
    except EnqueueError as exc:
        return error(503, "enqueue_unavailable", f"the replay could not be queued: {exc}; retry")
    client = request[CLIENT]
    get_logger(message_id=original).info("sms.replayed", replayed_as=new_id, by=client.name)
    return web.json_response({"id": new_id, "replay_of": original}, status=202)


# --- provider callbacks -----------------------------------------------------------------------


async def _delivery_report(request: web.Request) -> web.Response:
    called = await provider_post(request)
    if isinstance(called, web.Response):
        return called
    provider, report = called
    answer = await asyncio.to_thread(
        receive_reports,
        provider,
        report,
        store=request.app[DISPATCHER].store,
        secret=request.app[SETTINGS].delivery_reports.secret,
        resend=request.app[RESEND_RULES],
    )
    return web.json_response(answer.body, status=answer.status, headers=answer.headers)


# --- operations -------------------------------------------------------------------------------


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _readyz(request: web.Request) -> web.Response:
    client = request.app[DISPATCHER].store_client
    heartbeat_s = request.app[SETTINGS].worker.heartbeat_s

    def seen() -> tuple[RedisMemory, list[dict[str, Any]]]:
        memory = redis_memory(client)
        return memory, workers(client, now_ms=now_ms(), heartbeat_s=heartbeat_s)

    try:
        memory, found = await asyncio.to_thread(seen)
    except StoreError as exc:
        down = {"ready": False, "redis": exc.error, "workers": 0, "reason": "no Redis"}
        return web.json_response(down, status=503)
    fresh = sum(1 for worker in found if not worker["stale"])
    stale = [worker["name"] for worker in found if worker["stale"]]
    body: dict[str, Any] = {
        "ready": fresh > 0,
        "redis": "ok",
        "workers": fresh,
        "stale": stale,
        "redis_memory": memory.as_dict(),
    }
    if memory.full:
        body.update(ready=False, redis="out_of_memory", reason=memory.problem())
        return web.json_response(body, status=503)
    if fresh == 0:
        window_s = stale_after_ms(heartbeat_s) / 1000
        body["reason"] = f"no worker ran a job or canary in the last {window_s:g} s"
        return web.json_response(body, status=503)
    return web.json_response(body)


async def _metrics(request: web.Request) -> web.Response:
    text = await asyncio.to_thread(request.app[METRICS].render)
    return web.Response(body=text, content_type="text/plain", charset="utf-8")


@requires("operate")
async def _dashboard_data(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    dispatcher = request.app[DISPATCHER]

    def gather() -> dict[str, Any]:
        now = now_ms()
        client = dispatcher.store_client
        snapshot = stats_snapshot(settings, client, now_ms=now)
        snapshot["hour"] = hour_series(settings, client, now_ms=now)
        letters = DeadLetters(dispatcher.store).page(DeadLetterFilter(), offset=0, limit=20)
        snapshot["dead_letters_latest"] = letters
        return snapshot

    return web.json_response(await asyncio.to_thread(gather))


_STATIC = Path(__file__).parent / "static"
_PAGE_HEADERS = {
    # The page holds no data (it reads /v1/dashboard with the operator key) and loads nothing
    # from elsewhere.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _static(name: str, content_type: str) -> Handler:
    body = (_STATIC / name).read_bytes()

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(
            body=body, content_type=content_type, charset="utf-8", headers=_PAGE_HEADERS
        )

    return serve


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT])


def build_api(
    settings: Settings, dispatcher: Dispatcher, providers: Mapping[str, Provider]
) -> web.Application:
    """The API application; refuses to build without at least one key."""
    register_secrets(settings.secret_values())
    keyring = KeyRing(settings.api, settings.guard.country_rules())
    if not len(keyring):
        raise ConfigError(
            "api.keys",
            "has no key: add [api.keys.NAME] (see `smsdispatch api-key new`)",
            env_var="SMSD_API__API_KEYS",
        )
    app = web.Application(
        middlewares=[_json_errors, _authenticate, _known_query],
        client_max_size=settings.api.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[DISPATCHER] = dispatcher
    app[KEYRING] = keyring
    app[LIMITER] = RequestLimiter(dispatcher.store_client)
    app[PROVIDERS] = dict(providers)
    app[RESEND_RULES] = settings.resend_rules()  # once, not per delivery report
    app[METRICS] = ApiMetrics(
        dispatcher.store_client,
        list(settings.providers),
        settings.worker.heartbeat_s,
        delivery_window_s=settings.delivery_reports.window_s,
        settings=settings,
    )
    app[DOCUMENT] = openapi_document(settings)
    app.router.add_post("/v1/messages", _create_message)
    app.router.add_post("/v1/messages:batch", _create_batch)
    app.router.add_get("/v1/messages/{id}", _get_message, allow_head=False)
    app.router.add_delete("/v1/messages/{id}", _cancel_message)
    app.router.add_delete("/v1/campaigns/{tag}", _cancel_campaign)
    app.router.add_get("/v1/dead-letters", _list_dead_letters, allow_head=False)
    app.router.add_post("/v1/dead-letters/{id}/replay", _replay_dead_letter)
    app.router.add_post("/v1/delivery-reports/{provider}", _delivery_report)
    add_opt_out_routes(app)
    add_inbound_routes(app)
    add_guard_routes(app)
    app.router.add_get("/healthz", _healthz, allow_head=False)
    app.router.add_get("/readyz", _readyz, allow_head=False)
    app.router.add_get("/metrics", _metrics, allow_head=False)
    app.router.add_get("/openapi.json", _openapi, allow_head=False)
    app.router.add_get("/v1/dashboard", _dashboard_data, allow_head=False)
    app.router.add_get("/dashboard", _static("dashboard.html", "text/html"), allow_head=False)
    app.router.add_get(
        "/dashboard.js", _static("dashboard.js", "application/javascript"), allow_head=False
    )
    app.router.add_get("/dashboard.css", _static("dashboard.css", "text/css"), allow_head=False)
    return app


async def serve_api(app: web.Application, *, host: str, port: int) -> None:
    """Serve until cancelled."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
