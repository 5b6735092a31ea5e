"""The simulator's web application: provider personalities plus a control API under ``/_sim``.

One personality per configured provider kind (:data:`PERSONALITIES`), each checking the
credentials it was given. Control API (JSON, loopback only; no authentication, it is a test
double):

- ``POST /_sim/scripts`` ``{"to": "+4670...", "answers": [{"status": 503}, {"status": 403,
  "code": "blocked_account"}, {"success": true, "report": "failed"}], "repeat_last": false}``:
  answer sends to that number (whichever personality gets them) with these answers in order, then
  normally. See :class:`~providers.simulator.state.ScriptedAnswer`.
- ``POST /_sim/latency`` ``{"latency_ms": 200}``: delay every answer.
- ``POST /_sim/outage`` ``{"status": 503, "seconds": 20, "provider": "sinch"}``: answer every
  send (to that personality only, with ``provider``) with that status for ``seconds``, or until
  ``{"status": null}``.
- ``POST /_sim/lookup-outage`` ``{"status": 503, "provider": "gosms"}``: answer every status
  lookup (GoSMS ``/sms/get``, YellowPush ``/sms_edr``, Sinch's List Batches; at that personality
  only, with ``provider``) with that status until ``{"status": null}``; sends go on as before.
- ``GET /_sim/requests[?client_reference=…]``: the sends received (newest last).
- ``GET /_sim/stats``: counts, and references received more than once.
- ``POST /_sim/report-urls`` ``{"provider": "cecula", "url": "http://127.0.0.1:8080/..."}``: where
  that personality posts delivery reports when the send itself names no callback URL (the URL a
  customer sets in the provider's panel).
- ``POST /_sim/report-delay`` ``{"report_delay_ms": 100}``: how long after acceptance the handset
  answers (reports are posted, polled statuses turn final).
- ``POST /_sim/expire-tokens``: forget every session token issued (YellowPush), as if they expired.
- ``POST /_sim/inbound`` ``{"provider": "twilio", "url": "http://127.0.0.1:8080/v1/inbound/twilio",
  "from": "+14155552671", "to": "+15005550006", "text": "STOP"}``: post an inbound text to ``url``
  in that provider's format (signed as it signs), once; answers what ``url`` answered (404: the
  provider documents no inbound format).
- ``POST /_sim/reset``: forget scripts, requests, accepted messages and report URLs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from providers.simulator.cecula import CeculaPersonality
from providers.simulator.gosms import GoSmsPersonality
from providers.simulator.personality import REPORT_TIMEOUT_S, Personality, ReportPoster
from providers.simulator.sinch import SinchPersonality
from providers.simulator.state import ScriptedAnswer, SimulatorState
from providers.simulator.twilio import TwilioPersonality
from providers.simulator.vonage import VonagePersonality
from providers.simulator.yellowpush import YellowPushPersonality

__all__ = ["PERSONALITIES", "SimulatorConfig", "build_app", "serve"]

PERSONALITIES: dict[str, type[Personality]] = {
    p.kind: p
    for p in (
        SinchPersonality,
        GoSmsPersonality,
        CeculaPersonality,
        YellowPushPersonality,
        TwilioPersonality,
        VonagePersonality,
    )
}

STATE_KEY = web.AppKey("state", SimulatorState)
PERSONALITIES_KEY = web.AppKey("personalities", dict[str, Personality])
POSTER_KEY = web.AppKey("poster", ReportPoster)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """The credentials each personality accepts (provider kind → settings), and the latency.

    A kind left out is not served. Each kind needs the settings its personality names in
    ``credential_settings`` (the same names as in the provider's config entry).
    """

    accounts: Mapping[str, Mapping[str, str]]
    latency_ms: int = 0
    report_delay_ms: int = 100

    def __post_init__(self) -> None:
        for kind, credentials in self.accounts.items():
            personality = PERSONALITIES.get(kind)
            if personality is None:
                raise ValueError(f"no simulator personality for provider kind {kind!r}")
            missing = [s for s in personality.credential_settings if not credentials.get(s)]
            if missing:
                raise ValueError(f"the {kind} personality needs {', '.join(missing)}")


def build_app(config: SimulatorConfig, state: SimulatorState | None = None) -> web.Application:
    """The simulator as an aiohttp application (for ``aiohttp.web.AppRunner`` or tests)."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    sim_state = state or SimulatorState(
        latency_ms=config.latency_ms, report_delay_ms=config.report_delay_ms
    )
    app[STATE_KEY] = sim_state
    poster = ReportPoster(sim_state)
    app[POSTER_KEY] = poster
    personalities = {
        kind: PERSONALITIES[kind](sim_state, credentials, poster)
        for kind, credentials in config.accounts.items()
    }
    app[PERSONALITIES_KEY] = personalities
    for personality in personalities.values():
        personality.add_routes(app)

    async def close_poster(_app: web.Application) -> None:
        await poster.close()

    app.on_cleanup.append(close_poster)
    app.router.add_post("/_sim/scripts", _script)
    app.router.add_post("/_sim/inbound", _inbound)
    app.router.add_post("/_sim/report-urls", _report_url)
    app.router.add_post("/_sim/report-delay", _report_delay)
    app.router.add_post("/_sim/expire-tokens", _expire_tokens)
    app.router.add_post("/_sim/latency", _latency)
    app.router.add_post("/_sim/outage", _outage)
    app.router.add_post("/_sim/lookup-outage", _lookup_outage)
    app.router.add_get("/_sim/requests", _requests)
    app.router.add_get("/_sim/stats", _stats)
    app.router.add_post("/_sim/reset", _reset)
    app.router.add_get("/healthz", _healthz)
    return app


def _bad_request(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=400)


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def _script(request: web.Request) -> web.Response:
    data = await _json_object(request)
    if (
        data is None
        or not isinstance(data.get("to"), str)
        or not isinstance(data.get("answers"), list)
    ):
        return _bad_request("expected {'to': str, 'answers': [...]}")
    try:
        answers = [ScriptedAnswer.from_json(a) for a in data["answers"]]
    except (ValueError, TypeError, AttributeError) as exc:
        return _bad_request(str(exc))
    request.app[STATE_KEY].script(
        data["to"], answers, repeat_last=bool(data.get("repeat_last", False))
    )
    return web.json_response({"scripted": len(answers)})


async def _latency(request: web.Request) -> web.Response:
    data = await _json_object(request)
    if data is None or not isinstance(data.get("latency_ms"), int) or data["latency_ms"] < 0:
        return _bad_request("expected {'latency_ms': int >= 0}")
    request.app[STATE_KEY].latency_ms = data["latency_ms"]
    return web.json_response({"latency_ms": data["latency_ms"]})


async def _outage(request: web.Request) -> web.Response:
    data = await _json_object(request)
    if data is None or "status" not in data:
        return _bad_request("expected {'status': int | null, 'seconds': number?}")
    status, seconds, provider = data["status"], data.get("seconds"), data.get("provider")
    state = request.app[STATE_KEY]
    if provider is not None and not isinstance(provider, str):
        return _bad_request("provider must be a provider kind, e.g. 'sinch'")
    if status is None:
        state.end_outage(provider)
        return web.json_response({"outage": None, "provider": provider})
    if not isinstance(status, int) or not 100 <= status <= 599:
        return _bad_request("status must be an HTTP status")
    if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
        return _bad_request("seconds must be a positive number")
    state.start_outage(status, seconds=seconds, provider=provider)
    return web.json_response({"outage": status, "seconds": seconds, "provider": provider})


async def _lookup_outage(request: web.Request) -> web.Response:
    data = await _json_object(request)
    if data is None or "status" not in data:
        return _bad_request("expected {'status': int | null, 'provider': str?}")
    status, provider = data["status"], data.get("provider")
    if provider is not None and not isinstance(provider, str):
        return _bad_request("provider must be a provider kind, e.g. 'gosms'")
    if status is not None and (not isinstance(status, int) or not 100 <= status <= 599):
        return _bad_request("status must be an HTTP status")
    request.app[STATE_KEY].fail_lookups(status, provider=provider)
    return web.json_response({"lookup_outage": status, "provider": provider})


async def _report_url(request: web.Request) -> web.Response:
    data = await _json_object(request)
    if (
        data is None
        or not isinstance(data.get("provider"), str)
        or not isinstance(data.get("url"), str)
        or not data["url"].startswith(("http://", "https://"))
    ):
        return _bad_request("expected {'provider': str, 'url': 'http://...'}")
    request.app[STATE_KEY].report_urls[data["provider"]] = data["url"]
    return web.json_response({"provider": data["provider"], "url": data["url"]})


async def _inbound(request: web.Request) -> web.Response:
    """Post an inbound text to ``url`` as the provider would, once, and say what it answered."""
    data = await _json_object(request) or {}
    kind, url = data.get("provider"), data.get("url")
    fields = [data.get(k) for k in ("from", "to", "text")]
    personality = request.app[PERSONALITIES_KEY].get(kind) if isinstance(kind, str) else None
    if (
        personality is None
        or not isinstance(url, str)
        or not url.startswith(("http://", "https://"))
        or not all(isinstance(f, str) for f in fields)
    ):
        return _bad_request("expected {'provider', 'url', 'from', 'to', 'text'} (strings)")
    sender, to, text = (str(f) for f in fields)
    post = personality.inbound_post(url, sender, to, text)
    if post is None:
        return web.json_response({"error": f"{kind} documents no inbound format"}, status=404)
    timeout = aiohttp.ClientTimeout(total=REPORT_TIMEOUT_S)
    headers = {"Content-Type": post.content_type, **post.headers}
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(post.url, data=post.body, headers=headers) as answer,
    ):
        return web.json_response(
            {
                "status": answer.status,
                "content_type": answer.content_type,
                "body": await answer.text(),
            }
        )


async def _report_delay(request: web.Request) -> web.Response:
    data = await _json_object(request)
    delay = data.get("report_delay_ms") if data else None
    if not isinstance(delay, int) or delay < 0:
        return _bad_request("expected {'report_delay_ms': int >= 0}")
    request.app[STATE_KEY].report_delay_ms = delay
    return web.json_response({"report_delay_ms": delay})


async def _expire_tokens(request: web.Request) -> web.Response:
    expired = 0
    for personality in request.app[PERSONALITIES_KEY].values():
        if isinstance(personality, YellowPushPersonality):
            expired += personality.expire_tokens()
    return web.json_response({"expired": expired})


async def _requests(request: web.Request) -> web.Response:
    reference = request.query.get("client_reference")
    found = [
        r.to_json()
        for r in request.app[STATE_KEY].requests
        if reference is None or r.client_reference == reference
    ]
    return web.json_response({"requests": found})


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[STATE_KEY].stats())


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return web.json_response({"reset": True})


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def serve(config: SimulatorConfig, *, host: str, port: int) -> None:
    """Serve until cancelled."""
    runner = web.AppRunner(build_app(config), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    try:
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await runner.cleanup()
