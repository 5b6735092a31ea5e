"""What the API's handlers share: the application's keys, the JSON refusal, the scope guard,
the JSON body reader and the query's whole numbers."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from dispatcher.api.api_keys import ApiClient, KeyRing, RequestLimiter
from dispatcher.config.settings import ApiScope, Settings
from dispatcher.errors import InvalidMessage
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.ops.metrics import ApiMetrics
from providers.base import InboundReport, Provider

__all__ = [
    "CLIENT",
    "DISPATCHER",
    "DOCUMENT",
    "KEYRING",
    "LIMITER",
    "METRICS",
    "PROVIDERS",
    "SETTINGS",
    "Handler",
    "error",
    "int_param",
    "json_body",
    "provider_post",
    "requires",
]

DISPATCHER = web.AppKey("dispatcher", Dispatcher)
SETTINGS = web.AppKey("settings", Settings)
KEYRING = web.AppKey("keyring", KeyRing)
LIMITER = web.AppKey("limiter", RequestLimiter)
PROVIDERS = web.AppKey("providers", dict)
METRICS = web.AppKey("metrics", ApiMetrics)
DOCUMENT = web.AppKey("document", dict)
CLIENT = web.RequestKey("api_client", ApiClient)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error(
    status: int, code: str, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> web.Response:
    body = {"error": {"code": code, "message": message, **extra}}
    return web.json_response(body, status=status, headers=headers)


def requires(scope: ApiScope) -> Callable[[Handler], Handler]:
    """A handler only keys with ``scope`` may call (403 for the others)."""

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            client = request[CLIENT]
            if not client.may(scope):
                return error(403, "forbidden", f"key {client.name!r} may not {scope}")
            return await handler(request)

        return guarded

    return wrap


def _no_constant(name: str) -> Any:
    # NaN, Infinity and -Infinity are not JSON, though Python's reader takes them.
    raise ValueError(f"{name} is not JSON")


async def json_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The request's JSON object, or the refusal (415, 400, 422; 413 raises)."""
    if request.content_type != "application/json":
        return error(415, "unsupported_media_type", "send Content-Type: application/json")
    raw = await request.read()
    try:
        document = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        return error(400, "malformed_json", "the request body is not valid JSON")
    except RecursionError:
        return error(400, "malformed_json", "the request body is nested too deeply")
    if not isinstance(document, dict):
        return error(422, "invalid_request", "the request body must be a JSON object")
    return document


def int_param(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidMessage({name: f"must be a whole number from {low} to {high}"})
    return int(raw)


async def provider_post(request: web.Request) -> tuple[Provider, InboundReport] | web.Response:
    """A provider's callback (``/v1/.../{provider}``): the configured provider it names, and the
    post as its adapter reads it (body, content type, query, headers, the URL it was posted
    to); 404 for a provider not configured."""
    name = request.match_info["provider"]
    provider: Provider | None = request.app[PROVIDERS].get(name)
    if provider is None:
        return error(404, "not_found", f"no configured provider {name!r}")
    return provider, InboundReport(
        body=await request.read(),
        content_type=request.content_type,
        query=dict(request.query),
        headers=dict(request.headers),
        url=str(request.url),
    )
