"""``smsdispatch dev``: the whole system on one machine, without Docker.

Starts (or uses ``SMSD_REDIS_URL``) Redis, then the provider simulator, a worker and the HTTP API
as child processes, writes their addresses to ``<data_dir>/dev.json`` so other terminals find them
(``smsdispatch send`` / ``status``), prints the URLs, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

import click

from dispatcher.config.dev_state import dev_state_path, write_dev_state
from dispatcher.config.settings import Settings
from dispatcher.devstack.embedded_redis import EmbeddedRedis, free_port
from dispatcher.devstack.local_http import request_json
from dispatcher.devstack.sentinel_cluster import MASTER_NAME, SentinelCluster
from dispatcher.devstack.simulator_wiring import report_wiring, simulated_providers, simulator_env

__all__ = ["run_dev_stack"]


def _port_or_free(preferred: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            return free_port()
    return preferred


def _wait_http(port: int, timeout_s: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"a child process exited during start-up: {process.args!r}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise click.ClickException(f"nothing listened on 127.0.0.1:{port} within {timeout_s:.0f} s")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _stack_env(
    settings: Settings, redis_url: str, api_key: str, *, api_port: int, simulator_url: str
) -> tuple[dict[str, str], dict[str, str]]:
    """The children's environment, and where each provider's panel posts delivery reports."""
    report_token = os.environ.get("SMSD_DELIVERY_REPORTS__SECRET") or secrets.token_urlsafe(24)
    report_env, report_panels = report_wiring(
        settings, f"http://127.0.0.1:{api_port}", report_token
    )
    env = {
        **os.environ,
        "SMSD_REDIS_URL": redis_url,
        **simulator_env(settings, simulator_url, lambda _var: secrets.token_urlsafe(24)),
        **report_env,
        "SMSD_DELIVERY_REPORTS__SECRET": report_token,
        "SMSD_API__API_KEYS": os.environ.get("SMSD_API__API_KEYS") or api_key,
        "SMSD_LOG__FORMAT": "console",
        # The web apps a developer points callback_url at run on this machine.
        "SMSD_CALLBACKS__ALLOW_PRIVATE_NETWORKS": os.environ.get(
            "SMSD_CALLBACKS__ALLOW_PRIVATE_NETWORKS", "true"
        ),
    }
    return env, report_panels


def _start_children(
    env: dict[str, str],
    processes: list[subprocess.Popen[bytes]],
    *,
    api_port: int,
    simulator_port: int,
    concurrency: int,
    report_panels: dict[str, str],
) -> None:
    """Start the simulator, a worker and the API (each appended to ``processes`` as it starts)
    and wait until the simulator and the API listen."""
    cli = [sys.executable, "-m", "dispatcher"]
    simulator = subprocess.Popen([*cli, "simulator", "--port", str(simulator_port)], env=env)  # noqa: S603
    processes.append(simulator)
    _wait_http(simulator_port, 20, simulator)
    simulator_url = f"http://127.0.0.1:{simulator_port}"
    for kind, url in report_panels.items():  # as a customer sets it in each panel
        request_json(f"{simulator_url}/_sim/report-urls", {"provider": kind, "url": url})
    worker = subprocess.Popen([*cli, "worker", "--concurrency", str(concurrency)], env=env)  # noqa: S603
    processes.append(worker)
    api = subprocess.Popen([*cli, "api", "--port", str(api_port)], env=env)  # noqa: S603
    processes.append(api)
    _wait_http(api_port, 30, api)


def _embedded_redis(
    settings: Settings, *, sentinel: bool
) -> tuple[EmbeddedRedis | SentinelCluster | None, dict[str, str]]:
    """The Redis the stack runs itself (None: SMSD_REDIS_URL's), started, and the environment
    its children reach it with."""
    if settings.redis_url:
        if sentinel:
            raise click.UsageError("--sentinel runs its own Redis: unset SMSD_REDIS_URL")
        return None, {"SMSD_REDIS_URL": settings.redis_url}
    if not sentinel:
        embedded = EmbeddedRedis(settings.data_dir / "redis")
        return embedded, {"SMSD_REDIS_URL": embedded.start()}
    cluster = SentinelCluster(settings.data_dir / "sentinel")
    url = cluster.start()
    return cluster, {
        "SMSD_REDIS_URL": url,
        "SMSD_SENTINEL_MASTER": MASTER_NAME,
        # A send is acknowledged once the replica has it too (unless configured otherwise).
        "SMSD_REDIS__WAIT_REPLICAS": os.environ.get("SMSD_REDIS__WAIT_REPLICAS", "1"),
    }


def run_dev_stack(
    settings: Settings,
    *,
    api_port: int,
    simulator_port: int,
    concurrency: int,
    sentinel: bool = False,
) -> None:
    """Run Redis (embedded unless configured; with ``sentinel``, a primary, a replica and three
    Sentinels), simulator, worker and API until interrupted."""
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    embedded, redis_env = _embedded_redis(settings, sentinel=sentinel)
    redis_url = redis_env["SMSD_REDIS_URL"]
    api_key = os.environ.get("SMSD_API__API_KEYS", "").split(",")[0] or secrets.token_urlsafe(24)
    simulator_port, api_port = _port_or_free(simulator_port), _port_or_free(api_port)
    simulator_url = f"http://127.0.0.1:{simulator_port}"
    env, panels = _stack_env(
        settings, redis_url, api_key, api_port=api_port, simulator_url=simulator_url
    )
    env.update(redis_env)
    processes: list[subprocess.Popen[bytes]] = []

    def handle_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handle_signal)
    try:
        _start_children(
            env,
            processes,
            api_port=api_port,
            simulator_port=simulator_port,
            concurrency=concurrency,
            report_panels=panels,
        )
        # The local stack's own addresses and key, for `smsdispatch demo`.
        state = {
            "redis_url": redis_url,
            **({"sentinel_master": MASTER_NAME} if sentinel else {}),
            "api_url": f"http://127.0.0.1:{api_port}",
            "simulator_url": simulator_url,
            "api_key": api_key,
        }
        write_dev_state(settings, state)
        _print_banner(settings, state, embedded=embedded, api_port=api_port)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        raise click.ClickException("a child process stopped; stopping the stack")
    except KeyboardInterrupt:
        click.echo("\nstopping the local stack ...", err=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(processes)
        with contextlib.suppress(FileNotFoundError):
            dev_state_path(settings).unlink()
        if embedded is not None:
            embedded.stop()


def _print_banner(
    settings: Settings,
    state: dict[str, str],
    *,
    embedded: EmbeddedRedis | SentinelCluster | None,
    api_port: int,
) -> None:
    redis_url, simulator_url, api_key = state["redis_url"], state["simulator_url"], state["api_key"]
    data_dir = settings.data_dir
    providers = sorted(simulated_providers(settings))
    where = "from SMSD_REDIS_URL"
    if isinstance(embedded, SentinelCluster):
        where = (
            f"embedded primary, replica and three Sentinels, master {MASTER_NAME!r}, "
            f"data in {embedded.data_dir}"
        )
    elif embedded is not None:
        where = f"embedded, data in {data_dir / 'redis'}"
    click.echo(
        "\nsms-dispatch local stack is up\n"
        f"  redis      {redis_url}  ({where})\n"
        f"  api        http://127.0.0.1:{api_port}   (Authorization: Bearer {api_key})\n"
        f"  simulator  {simulator_url}   (control API under /_sim)\n"
        f"             answers as: {', '.join(providers)}\n"
        "  worker     Celery, threads pool\n"
        f"  dashboard  http://127.0.0.1:{api_port}/dashboard#key={api_key}\n\n"
        "In another terminal:\n"
        "  make demo   (or .venv/bin/smsdispatch demo): every path, on the dashboard in a minute\n"
        "  .venv/bin/smsdispatch send --to +14155552671 --body hello\n"
        "  .venv/bin/smsdispatch status <id>\n"
        "  .venv/bin/smsdispatch stats --watch 2\n\n"
        "Ctrl-C stops everything.\n",
        err=True,
    )
