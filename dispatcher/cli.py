"""``smsdispatch``: the command line of sms-dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from dispatcher.errors import ConfigError, DispatchError, InvalidMessage, MessageNotFound
from dispatcher.settings import PRIORITY_QUEUES, get_settings

__all__ = ["main"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _fail_clearly(function: _F) -> _F:
    """Turn our own errors into one clear line and an exit code instead of a traceback."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except InvalidMessage as exc:
            for name, reason in exc.fields.items():
                click.echo(f"error: {name}: {reason}", err=True)
            sys.exit(1)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except DispatchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper  # type: ignore[return-value]


@click.group()
def main() -> None:
    """sms-dispatch: asynchronous multi-provider SMS dispatch on Celery and Redis."""
    from dispatcher.logs import configure_logging  # noqa: PLC0415

    # People read the CLI: readable lines on stderr, so stdout carries only results. Long-running
    # commands (worker, api) configure again from the settings.
    configure_logging("console", "WARNING")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--concurrency", "-c", type=int, default=None, help="Send threads (default: config).")
@click.option("--queues", "-Q", default=None, help="Comma-separated queues (default: all three).")
@click.option("--loglevel", "-l", default="INFO", show_default=True)
@click.argument("celery_args", nargs=-1, type=click.UNPROCESSED)
@_fail_clearly
def worker(
    concurrency: int | None, queues: str | None, loglevel: str, celery_args: tuple[str, ...]
) -> None:
    """Run a worker (Celery, threads pool). Other options go to `celery worker`."""
    from dispatcher.worker import run_worker  # noqa: PLC0415 - keep CLI start-up light

    run_worker(
        concurrency=concurrency,
        queues=queues.split(",") if queues else None,
        loglevel=loglevel,
        extra_args=celery_args,
    )


@main.command()
@click.option("--host", default=None, help="Default: api.host from config (127.0.0.1).")
@click.option("--port", type=int, default=None, help="Default: api.port from config (8080).")
@_fail_clearly
def api(host: str | None, port: int | None) -> None:
    """Serve the HTTP API."""
    from dispatcher.api import build_api, serve_api  # noqa: PLC0415
    from dispatcher.enqueue import Dispatcher  # noqa: PLC0415
    from dispatcher.logs import configure_logging, get_logger  # noqa: PLC0415

    settings = get_settings()
    configure_logging(settings.log.format, settings.log.level)
    keys = [k.strip() for k in settings.api.api_keys.split(",") if k.strip()]
    if not keys:
        raise ConfigError("api.api_keys", "has no key", env_var="SMSD_API__API_KEYS")
    app = build_api(Dispatcher(settings), keys)
    bind_host, bind_port = host or settings.api.host, port or settings.api.port
    get_logger().info("api.listening", host=bind_host, port=bind_port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_api(app, host=bind_host, port=bind_port))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8025, show_default=True)
@click.option("--latency-ms", type=int, default=0, show_default=True, help="Delay every answer.")
@click.option("--sinch-service-plan-id", default=None, help="Default: providers.sinch in config.")
@click.option(
    "--sinch-token",
    envvar="SMSD_PROVIDERS__SINCH__API_TOKEN",
    default=None,
    help="Token to accept [env SMSD_PROVIDERS__SINCH__API_TOKEN].",
)
@_fail_clearly
def simulator(
    host: str,
    port: int,
    latency_ms: int,
    sinch_service_plan_id: str | None,
    sinch_token: str | None,
) -> None:
    """Serve fake provider APIs (Sinch-compatible) on loopback, scriptable per number."""
    from providers.simulator import SimulatorConfig, serve  # noqa: PLC0415

    settings = get_settings()
    sinch = settings.providers.get("sinch")
    plan = sinch_service_plan_id or (sinch.options().get("service_plan_id") if sinch else None)
    if not plan:
        raise ConfigError("providers.sinch.service_plan_id", "is needed by the simulator")
    if not sinch_token:
        raise ConfigError(
            "providers.sinch.api_token",
            "is needed by the simulator",
            env_var="SMSD_PROVIDERS__SINCH__API_TOKEN",
        )
    click.echo(f"simulator listening on http://{host}:{port}", err=True)
    config = SimulatorConfig(
        sinch_service_plan_id=str(plan), sinch_api_token=sinch_token, latency_ms=latency_ms
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, host=host, port=port))


@main.command()
@click.option("--api-port", type=int, default=8080, show_default=True)
@click.option("--simulator-port", type=int, default=8025, show_default=True)
@click.option("--concurrency", type=int, default=32, show_default=True)
@_fail_clearly
def dev(api_port: int, simulator_port: int, concurrency: int) -> None:
    """Run the whole stack locally: Redis (embedded by default), simulator, worker, API."""
    from dispatcher.devstack import run_dev_stack  # noqa: PLC0415

    run_dev_stack(
        get_settings(), api_port=api_port, simulator_port=simulator_port, concurrency=concurrency
    )


@main.command()
@click.option("--to", "to", required=True, help="Destination, E.164 (+14155552671).")
@click.option("--body", required=True, help="Text of the message.")
@click.option("--sender", default=None)
@click.option("--priority", type=click.Choice(list(PRIORITY_QUEUES)), default="normal")
@click.option("--validity", type=int, default=None, help="Seconds the message stays worth sending.")
@click.option("--idempotency-key", default=None)
@click.option("--provider", "providers", multiple=True, help="Use these providers, in order.")
@_fail_clearly
def send(
    to: str,
    body: str,
    sender: str | None,
    priority: str,
    validity: int | None,
    idempotency_key: str | None,
    providers: tuple[str, ...],
) -> None:
    """Enqueue one SMS and print its id."""
    from dispatcher.enqueue import default_dispatcher  # noqa: PLC0415

    message_id = default_dispatcher().send_sms(
        to,
        body,
        sender=sender,
        priority=priority,
        validity=validity,
        idempotency_key=idempotency_key,
        providers=list(providers) or None,
    )
    click.echo(message_id)


@main.command()
@click.argument("message_id")
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=0.0,
    help="Wait up to this many seconds for the message to leave queued/sending/retry_scheduled.",
)
@_fail_clearly
def status(message_id: str, wait_s: float) -> None:
    """Print a message's state, provider and attempts as JSON."""
    from dispatcher.enqueue import default_dispatcher  # noqa: PLC0415

    dispatcher = default_dispatcher()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            found = dispatcher.get_status(message_id)
        except MessageNotFound:
            click.echo(f"error: no message with id {message_id}", err=True)
            sys.exit(1)
        pending = found["state"] in ("queued", "sending", "retry_scheduled")
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    click.echo(json.dumps(found, indent=2))
