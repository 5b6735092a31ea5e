"""The simulator's web application: provider personalities plus a control API under ``/_sim``.

Control API (JSON, loopback only; no authentication, it is a test double):

- ``POST /_sim/scripts`` ``{"to": "+4670...", "answers": [{"status": 503}, {"success": true}],
  "repeat_last": false}``: answer sends to that number with these answers in order, then normally.
- ``POST /_sim/latency`` ``{"latency_ms": 200}``: delay every answer.
- ``POST /_sim/outage`` ``{"status": 503, "seconds": 20}``: answer every send with that status
  (for ``seconds``, or until ``{"status": null}``).
- ``GET /_sim/requests[?client_reference=…]``: the sends received (newest last).
- ``GET /_sim/stats``: counts, and references received more than once.
- ``POST /_sim/reset``: forget scripts and requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from providers.simulator.sinch import SinchPersonality
from providers.simulator.state import ScriptedAnswer, SimulatorState

__all__ = ["SimulatorConfig", "build_app", "serve"]

STATE_KEY = web.AppKey("state", SimulatorState)


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Credentials the simulator accepts, and its default latency."""

    sinch_service_plan_id: str
    sinch_api_token: str
    latency_ms: int = 0


def build_app(config: SimulatorConfig, state: SimulatorState | None = None) -> web.Application:
    """The simulator as an aiohttp application (for ``aiohttp.web.AppRunner`` or tests)."""
    app = web.Application(client_max_size=4 * 1024 * 1024)
    sim_state = state or SimulatorState(latency_ms=config.latency_ms)
    app[STATE_KEY] = sim_state
    SinchPersonality(
        sim_state,
        service_plan_id=config.sinch_service_plan_id,
        api_token=config.sinch_api_token,
    ).add_routes(app)
    app.router.add_post("/_sim/scripts", _script)
    app.router.add_post("/_sim/latency", _latency)
    app.router.add_post("/_sim/outage", _outage)
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
    status, seconds = data["status"], data.get("seconds")
    state = request.app[STATE_KEY]
    if status is None:
        state.end_outage()
        return web.json_response({"outage": None})
    if not isinstance(status, int) or not 100 <= status <= 599:
        return _bad_request("status must be an HTTP status")
    if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
        return _bad_request("seconds must be a positive number")
    state.start_outage(status, seconds=seconds)
    return web.json_response({"outage": status, "seconds": seconds})


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
