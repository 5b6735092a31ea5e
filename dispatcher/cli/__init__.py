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

from dispatcher.cli.common import fail_clearly, iso_time
from dispatcher.cli.consent import erase, inbound, opt_out
from dispatcher.cli.guard import guard
from dispatcher.config.settings import get_settings
from dispatcher.core.categories import MESSAGE_CATEGORIES
from dispatcher.core.clock import now_ms
from dispatcher.core.names import PRIORITY_QUEUES
from dispatcher.core.time_input import parse_since
from dispatcher.errors import ConfigError, MessageNotFound, NotCancelable

__all__ = ["main"]

_F = TypeVar("_F", bound=Callable[..., Any])


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
@fail_clearly
def worker(
    concurrency: int | None, queues: str | None, loglevel: str, celery_args: tuple[str, ...]
) -> None:
    """Run a worker (Celery, threads pool). Other options go to `celery worker`."""
    from dispatcher.worker.start import run_worker  # noqa: PLC0415 - keep CLI start-up light

    run_worker(
        concurrency=concurrency,
        queues=queues.split(",") if queues else None,
        loglevel=loglevel,
        extra_args=celery_args,
    )


@main.command()
@click.option("--host", default=None, help="Default: api.host from config (127.0.0.1).")
@click.option("--port", type=int, default=None, help="Default: api.port from config (8080).")
@fail_clearly
def api(host: str | None, port: int | None) -> None:
    """Serve the HTTP API."""
    from dispatcher.api.app import build_api, serve_api  # noqa: PLC0415
    from dispatcher.config.provider_adapters import build_providers  # noqa: PLC0415
    from dispatcher.intake.enqueue import Dispatcher  # noqa: PLC0415
    from dispatcher.logs import configure_logging, get_logger  # noqa: PLC0415

    settings = get_settings()
    configure_logging(settings.log.format, settings.log.level)
    app = build_api(settings, Dispatcher(settings), build_providers(settings))
    bind_host, bind_port = host or settings.api.host, port or settings.api.port
    get_logger().info("api.listening", host=bind_host, port=bind_port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_api(app, host=bind_host, port=bind_port))


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8025, show_default=True)
@click.option("--latency-ms", type=int, default=0, show_default=True, help="Delay every answer.")
@click.option(
    "--report-delay-ms",
    type=int,
    default=100,
    show_default=True,
    help="Delay between acceptance and the delivery report.",
)
@fail_clearly
def simulator(host: str, port: int, latency_ms: int, report_delay_ms: int) -> None:
    """Serve fake provider APIs on loopback, one personality per configured provider kind.

    Each personality accepts the credentials of the configured provider of its kind (secrets
    from the environment, as for the worker).
    """
    from dispatcher.devstack.simulator_wiring import simulator_accounts  # noqa: PLC0415
    from providers.simulator import SimulatorConfig, serve  # noqa: PLC0415

    accounts = simulator_accounts(get_settings())
    click.echo(
        f"simulator listening on http://{host}:{port} as {', '.join(sorted(accounts))}", err=True
    )
    config = SimulatorConfig(accounts, latency_ms=latency_ms, report_delay_ms=report_delay_ms)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, host=host, port=port))


@main.command()
@click.option("--api-port", type=int, default=8080, show_default=True)
@click.option("--simulator-port", type=int, default=8025, show_default=True)
@click.option("--concurrency", type=int, default=8, show_default=True)
@click.option(
    "--sentinel",
    is_flag=True,
    help="Run Redis as a primary, a replica and three Sentinels (sends wait for the replica).",
)
@fail_clearly
def dev(api_port: int, simulator_port: int, concurrency: int, sentinel: bool) -> None:
    """Run the whole stack locally: Redis (embedded by default), simulator, worker, API."""
    from dispatcher.devstack.stack import run_dev_stack  # noqa: PLC0415

    run_dev_stack(
        get_settings(),
        api_port=api_port,
        simulator_port=simulator_port,
        concurrency=concurrency,
        sentinel=sentinel,
    )


@main.command()
@click.option("--to", "to", required=True, help="Destination, E.164 (+14155552671).")
@click.option("--body", required=True, help="Text of the message.")
@click.option("--sender", default=None)
@click.option("--priority", type=click.Choice(list(PRIORITY_QUEUES)), default="normal")
@click.option(
    "--category",
    type=click.Choice(list(MESSAGE_CATEGORIES)),
    default=None,
    help="Default: marketing for --priority bulk, else transactional.",
)
@click.option("--validity", type=int, default=None, help="Seconds the message stays worth sending.")
@click.option("--idempotency-key", default=None)
@click.option("--provider", "providers", multiple=True, help="Use these providers, in order.")
@click.option(
    "--send-at", default=None, help="Schedule it: ISO 8601 with offset, 2026-12-24T09:00:00+01:00."
)
@click.option("--campaign", default=None, help="Tag it, to cancel the campaign as a whole.")
@fail_clearly
def send(
    to: str,
    body: str,
    sender: str | None,
    priority: str,
    category: str | None,
    validity: int | None,
    idempotency_key: str | None,
    providers: tuple[str, ...],
    send_at: str | None,
    campaign: str | None,
) -> None:
    """Enqueue one SMS and print its id."""
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415

    message_id = default_dispatcher().send_sms(
        to,
        body,
        sender=sender,
        priority=priority,
        category=category,
        validity=validity,
        idempotency_key=idempotency_key,
        providers=list(providers) or None,
        send_at=send_at,
        campaign=campaign,
    )
    click.echo(message_id)


@main.command()
@click.argument("message_ids", nargs=-1)
@click.option("--campaign", default=None, help="Every message of this campaign not yet sent.")
@fail_clearly
def cancel(message_ids: tuple[str, ...], campaign: str | None) -> None:
    """Cancel messages still queued, scheduled or waiting for a retry (exit 1 if one could not
    be: being sent, accepted or final, or unknown)."""
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415
    from dispatcher.intake.validation import validate_campaign  # noqa: PLC0415

    if bool(message_ids) == bool(campaign):
        raise click.UsageError("name message ids, or --campaign TAG")
    dispatcher = default_dispatcher()
    if campaign:
        result = dispatcher.cancel_campaign(validate_campaign(campaign))
        kept = ", ".join(f"{n} {state}" for state, n in sorted(result["not_cancelable"].items()))
        click.echo(f"canceled {result['canceled']}" + (f"; not cancelable: {kept}" if kept else ""))
        return
    failed = False
    for message_id in message_ids:
        try:
            dispatcher.cancel(message_id)
        except (MessageNotFound, NotCancelable) as exc:
            click.echo(f"error: {exc}", err=True)
            failed = True
            continue
        click.echo(f"{message_id}: canceled")
    if failed:
        sys.exit(1)


@main.command()
@click.argument("message_id")
@click.option(
    "--wait",
    "wait_s",
    type=float,
    default=0.0,
    help="Wait up to this many seconds for the message to be sent (or to end).",
)
@fail_clearly
def status(message_id: str, wait_s: float) -> None:
    """Print a message's state, provider and attempts as JSON."""
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415

    dispatcher = default_dispatcher()
    deadline = time.monotonic() + wait_s
    while True:
        try:
            found = dispatcher.get_status(message_id)
        except MessageNotFound:
            click.echo(f"error: no message with id {message_id}", err=True)
            sys.exit(1)
        pending = found["state"] in ("queued", "scheduled", "sending", "retry_scheduled")
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    click.echo(json.dumps(found, indent=2))


def _filter_options(function: _F) -> _F:
    for option in reversed(
        [
            click.option("--provider", default=None, help="Only this provider's dead letters."),
            click.option(
                "--reason",
                default=None,
                help="rejected, provider_error, attempts_exhausted, expired, ambiguous, "
                "no_enabled_provider.",
            ),
            click.option("--since", default=None, help="Dead-lettered since: 30m, 2h, 1d, ISO."),
        ]
    ):
        function = option(function)
    return function


def _dead_letters() -> Any:
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415
    from dispatcher.ops.dead_letters import DeadLetters  # noqa: PLC0415

    return DeadLetters(default_dispatcher().store)


def _wanted(provider: str | None, reason: str | None, since: str | None) -> Any:
    from dispatcher.ops.dead_letters import DeadLetterFilter  # noqa: PLC0415

    try:
        since_ms = parse_since(since, now_ms=now_ms()) if since else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    return DeadLetterFilter(provider=provider, reason=reason, since_ms=since_ms)


@main.group()
def dlq() -> None:
    """Dead letters: list, show, replay, purge."""


@dlq.command("list")
@_filter_options
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@fail_clearly
def dlq_list(
    provider: str | None,
    reason: str | None,
    since: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """Dead letters, newest first."""
    letters = _dead_letters()
    rows = letters.page(_wanted(provider, reason, since), offset=offset, limit=limit)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    click.echo(f"{letters.count()} dead letters in all; showing {len(rows)} from {offset}")
    line = "{:<26}  {:<25}  {:<19}  {:<10}  {:>8}  {:<14}  {}"
    click.echo(
        line.format("ID", "DEAD-LETTERED (UTC)", "REASON", "PROVIDER", "ATTEMPTS", "TO", "DETAIL")
    )
    for row in rows:
        click.echo(
            line.format(
                row["id"],
                iso_time(row["dead_lettered_at_ms"]),
                row["final_reason"] or "-",
                row["provider"] or "-",
                row["attempt_count"],
                row["to"],
                (row["final_detail"] or "")[:60],
            )
        )


@dlq.command("show")
@click.argument("message_id")
@fail_clearly
def dlq_show(message_id: str) -> None:
    """One dead letter with every attempt, as JSON."""
    click.echo(json.dumps(_dead_letters().show(message_id), indent=2))


@dlq.command("replay")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Every dead letter matching the filters.")
@_filter_options
@click.option("--yes", is_flag=True, help="Do not ask before replaying --all.")
@fail_clearly
def dlq_replay(
    message_ids: tuple[str, ...],
    replay_all: bool,
    provider: str | None,
    reason: str | None,
    since: str | None,
    yes: bool,
) -> None:
    """Send dead letters again as new messages (fresh attempts), linked to the originals."""
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415
    from dispatcher.intake.replay import replay_dead_letter  # noqa: PLC0415

    letters = _dead_letters()
    ids = _chosen_ids(letters, message_ids, replay_all, provider, reason, since)
    if replay_all and not yes:
        click.confirm(f"Replay {len(ids)} dead letters?", abort=True)
    for message_id in ids:
        click.echo(f"{message_id} -> {replay_dead_letter(default_dispatcher(), message_id)}")


@dlq.command("purge")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "purge_all", is_flag=True, help="Every dead letter matching the filters.")
@_filter_options
@click.option("--yes", is_flag=True, help="Confirm: purged dead letters are gone for good.")
@fail_clearly
def dlq_purge(
    message_ids: tuple[str, ...],
    purge_all: bool,
    provider: str | None,
    reason: str | None,
    since: str | None,
    yes: bool,
) -> None:
    """Delete dead letters for good (needs --yes)."""
    letters = _dead_letters()
    ids = _chosen_ids(letters, message_ids, purge_all, provider, reason, since)
    if not yes:
        raise click.UsageError(f"purging {len(ids)} dead letters deletes them for good: add --yes")
    for message_id in ids:
        letters.purge(message_id)
    click.echo(f"purged {len(ids)} dead letters")


def _chosen_ids(
    letters: Any,
    message_ids: tuple[str, ...],
    every: bool,
    provider: str | None,
    reason: str | None,
    since: str | None,
) -> list[str]:
    if every == bool(message_ids):
        raise click.UsageError("name dead letter ids, or --all (with optional filters)")
    if message_ids:
        return list(message_ids)
    ids: list[str] = letters.matching_ids(_wanted(provider, reason, since))
    return ids


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of tables.")
@fail_clearly
def providers(as_json: bool) -> None:
    """Each provider's health: circuit, 429 pause, rate limit, recent attempts; route shares."""
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415
    from dispatcher.ops.provider_views import provider_status  # noqa: PLC0415

    status = provider_status(get_settings(), default_dispatcher().store_client, now_ms=now_ms())
    if as_json:
        click.echo(json.dumps(status))
        return
    line = "{:<12} {:<11} {:<8} {:<10} {:>9} {:>8} {:>8} {:>11}  {}"
    click.echo(
        line.format(
            "PROVIDER",
            "KIND",
            "ENABLED",
            "CIRCUIT",
            "ATTEMPTS",
            "FAILED",
            "MEAN MS",
            "RATE/S",
            "NOTE",
        )
    )
    for p in status["providers"]:
        window = p["window"]
        notes = []
        if p["circuit"] != "closed":
            until = f" until {iso_time(p['open_until_ms'])}" if p["open_until_ms"] else ""
            notes.append(f"{p['circuit']}{until}: {p['circuit_reason']}")
        if p["paused_until_ms"]:
            notes.append(f"paused after 429 until {iso_time(p['paused_until_ms'])}")
        if p["rate_backlog_ms"]:
            notes.append(f"rate slots handed out {p['rate_backlog_ms']} ms ahead")
        rate = f"{p['rate_limit']:g}/{p['rate_burst']}" if p["rate_limit"] else "-"
        click.echo(
            line.format(
                p["name"],
                p["kind"],
                "yes" if p["enabled"] else "no",
                p["circuit"],
                window["calls"],
                f"{window['failure_rate']:.0%}",
                f"{window['mean_latency_ms']:.0f}",
                rate,
                "; ".join(notes),
            )
        )
    _echo_routes_and_delivery(status)


def _echo_routes_and_delivery(status: dict[str, Any]) -> None:
    """The weighted routes' shares in force (health and delivery factors), then what reached
    the phone per provider and country."""
    from dispatcher.ops.provider_views import delivery_lines  # noqa: PLC0415

    weighted = [r for r in status["routes"] if r["weighted"]]
    if weighted:
        click.echo("\nWEIGHTED ROUTE          PROVIDER     WEIGHT    SHARE NOW  HEALTH  DELIVERY")
        for route in weighted:
            for p in route["providers"]:
                delivery = ", ".join(
                    f"+{country} {factor:.2f}" for country, factor in p["delivery_factors"].items()
                )
                click.echo(
                    f"{route['route']:<23} {p['provider']:<12} {p['weight']:>6g} "
                    f"{p['share']:>10.1%}  {p['health_factor']:.2f}    {delivery or '-'}"
                )
    delivery_table = delivery_lines(status["providers"])
    if delivery_table:
        click.echo("")
        click.echo("\n".join(delivery_table))


@main.group("api-key")
def api_key() -> None:
    """API keys for the HTTP API."""


@api_key.command("new")
@click.option("--name", required=True, help="A name for the key's holder, e.g. webshop.")
@click.option(
    "--scope",
    "scopes",
    type=click.Choice(["send", "operate"]),
    multiple=True,
    default=("send",),
    show_default=True,
    help="send: enqueue and read messages; operate: also dead letters. Repeat for both.",
)
def api_key_new(name: str, scopes: tuple[str, ...]) -> None:
    """Make a key: print it once, and the config lines that accept it (its hash only)."""
    from dispatcher.api.api_keys import new_api_key  # noqa: PLC0415

    if not name.replace("-", "").replace("_", "").isalnum():
        raise click.BadParameter("letters, digits, - and _ only", param_hint="--name")
    key, digest = new_api_key()
    click.echo(f"key (give it to {name}; it is not stored anywhere): {key}")
    click.echo("\nadd to your config file:\n")
    click.echo(f"[api.keys.{name}]")
    click.echo(f'sha256 = "{digest}"')
    click.echo("scopes = [" + ", ".join(f'"{s}"' for s in dict.fromkeys(scopes)) + "]")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document (for scripts).")
@click.option("--watch", "watch_s", type=float, default=None, help="Refresh every N seconds.")
@fail_clearly
def stats(as_json: bool, watch_s: float | None) -> None:
    """Queues, in flight, retries waiting, dead letters, workers, and each provider's health."""
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415
    from dispatcher.ops.stats import render_stats, stats_snapshot  # noqa: PLC0415

    settings = get_settings()
    client = default_dispatcher().store_client
    while True:
        snapshot = stats_snapshot(settings, client, now_ms=now_ms())
        if as_json:
            click.echo(json.dumps(snapshot))
        else:
            if watch_s:
                click.clear()
                click.echo(f"sms-dispatch  {iso_time(snapshot['at_ms'])}  (every {watch_s:g} s)\n")
            click.echo(render_stats(snapshot))
        if not watch_s:
            return
        time.sleep(watch_s)


@main.command()
@fail_clearly
def demo() -> None:
    """Send a mixed batch through the running `smsdispatch dev` stack: every path shows."""
    from dispatcher.config.dev_state import dev_state_path, read_dev_state  # noqa: PLC0415
    from dispatcher.devstack.demo import run_demo  # noqa: PLC0415

    settings = get_settings()
    state = read_dev_state(settings)
    if state is None:
        path = dev_state_path(settings)
        raise ConfigError("data_dir", f"has no running stack ({path}): start `make dev` first")
    click.echo(
        "sending a mixed batch: accepted, retried after a 503, failed over after a 401, "
        "rejected into the dead letters, reported undelivered ...",
        err=True,
    )
    result = run_demo(state)
    click.echo(
        f"sent {result['sent']}; now: "
        + ", ".join(f"{n} {s}" for s, n in sorted(result["states"].items()))
    )
    click.echo(f"dashboard: {result['dashboard']}")


main.add_command(opt_out)
main.add_command(inbound)
main.add_command(erase)
main.add_command(guard)
