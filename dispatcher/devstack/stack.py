"""``smsdispatch dev``: the whole system on one machine, without Docker.

Starts (or uses ``SMSD_REDIS_URL``) Redis, then the provider simulator, a worker and the HTTP API
as child processes, writes their addresses to ``<data_dir>/dev.json`` so other terminals find them
(``smsdispatch send`` / ``status``), prints the URLs, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import click

from dispatcher.config.settings import Settings, dev_state_path
from dispatcher.devstack.embedded_redis import EmbeddedRedis, free_port
from dispatcher.devstack.local_http import request_json
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


def run_dev_stack(
    settings: Settings, *, api_port: int, simulator_port: int, concurrency: int
) -> None:
    """Run Redis (embedded unless configured), simulator, worker and API until interrupted."""
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    embedded: EmbeddedRedis | None = None
    if settings.redis_url:
        redis_url = settings.redis_url
    else:
        embedded = EmbeddedRedis(data_dir / "redis")
        redis_url = embedded.start()

    api_key = os.environ.get("SMSD_API__API_KEYS", "").split(",")[0] or secrets.token_urlsafe(24)
    simulator_port = _port_or_free(simulator_port)
    api_port = _port_or_free(api_port)
    simulator_url = f"http://127.0.0.1:{simulator_port}"
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
    cli = [sys.executable, "-m", "dispatcher"]
    processes: list[subprocess.Popen[bytes]] = []
    state_path = dev_state_path(settings)

    def handle_signal(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handle_signal)
    try:
        simulator = subprocess.Popen([*cli, "simulator", "--port", str(simulator_port)], env=env)  # noqa: S603
        processes.append(simulator)
        _wait_http(simulator_port, 20, simulator)
        for kind, url in report_panels.items():  # as a customer sets it in each panel
            request_json(f"{simulator_url}/_sim/report-urls", {"provider": kind, "url": url})
        worker = subprocess.Popen([*cli, "worker", "--concurrency", str(concurrency)], env=env)  # noqa: S603
        processes.append(worker)
        api = subprocess.Popen([*cli, "api", "--port", str(api_port)], env=env)  # noqa: S603
        processes.append(api)
        _wait_http(api_port, 30, api)
        # The local stack's own addresses and key, for `smsdispatch demo`; readable by this user
        # only (the key is made up for this run).
        state_path.touch(mode=0o600)
        state_path.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "redis_url": redis_url,
                    "api_url": f"http://127.0.0.1:{api_port}",
                    "simulator_url": simulator_url,
                    "api_key": api_key,
                }
            ),
            encoding="utf-8",
        )
        _print_banner(
            redis_url,
            embedded=embedded is not None,
            api_port=api_port,
            simulator_url=simulator_url,
            api_key=api_key,
            data_dir=data_dir,
            providers=sorted(simulated_providers(settings)),
        )
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        raise click.ClickException("a child process stopped; stopping the stack")
    except KeyboardInterrupt:
        click.echo("\nstopping the local stack ...", err=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(processes)
        with contextlib.suppress(FileNotFoundError):
            state_path.unlink()
        if embedded is not None:
            embedded.stop()


def _print_banner(
    redis_url: str,
    *,
    embedded: bool,
    api_port: int,
    simulator_url: str,
    api_key: str,
    data_dir: Path,
    providers: list[str],
) -> None:
    where = f"embedded, data in {data_dir / 'redis'}" if embedded else "from SMSD_REDIS_URL"
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
