"""``smsdispatch opt-out``: the opt-out list from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dispatcher.cli.common import fail_clearly, iso_time

if TYPE_CHECKING:
    from dispatcher.intake.opt_outs import OptOuts

__all__ = ["erase", "inbound", "opt_out"]


def _opt_outs() -> OptOuts:
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415

    return default_dispatcher().opt_outs


_SENDER = click.option(
    "--sender", default=None, help='For this sender only (opt_out.scope = "sender").'
)


@click.group("opt-out")
def opt_out() -> None:
    """The opt-out list: add, remove, list, import."""


@opt_out.command("add")
@click.argument("number")
@_SENDER
@fail_clearly
def opt_out_add(number: str, sender: str | None) -> None:
    """Put a number on the list: messages to it are refused (and waiting ones end opted_out)."""
    added, entry = _opt_outs().add(number, sender, source="cli")
    click.echo(f"{entry.number}: {'added' if added else 'already on the list'}")


@opt_out.command("remove")
@click.argument("number")
@_SENDER
@fail_clearly
def opt_out_remove(number: str, sender: str | None) -> None:
    """Take a number off the list (exit 1 when it was not on it)."""
    if not _opt_outs().remove(number, sender, source="cli"):
        click.echo(f"error: {number} is not on the opt-out list", err=True)
        sys.exit(1)
    click.echo(f"{number}: removed")


@opt_out.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@fail_clearly
def opt_out_list(as_json: bool) -> None:
    """Every entry of the list (in no order)."""
    opt_outs = _opt_outs()
    cursor: int | None = 0
    line = "{:<17}  {:<16}  {:<16}  {:<25}  {}"
    if not as_json:
        click.echo(line.format("NUMBER", "SENDER", "SOURCE", "SINCE (UTC)", "KEYWORD"))
    while cursor is not None:
        page = opt_outs.page(cursor=cursor, count=500)
        for entry in page["opt_outs"]:
            if as_json:
                click.echo(json.dumps(entry))
                continue
            click.echo(
                line.format(
                    entry["number"] or "(erased)",
                    entry["sender"] or "(every sender)",
                    entry["source"],
                    iso_time(entry["at_ms"]),
                    entry["keyword"] or "-",
                )
            )
        cursor = page["next_cursor"]


@opt_out.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@fail_clearly
def opt_out_import(file: Path) -> None:
    """Put every number of FILE on the list: one a line (E.164, or national with
    messages.default_region), optionally "number,sender"; "#" starts a comment line."""
    with file.open(encoding="utf-8") as lines:
        result = _opt_outs().import_numbers(lines)
    click.echo(
        f"added {result.added}, already on the list {result.already}, "
        f"refused {result.refused_count}"
    )
    for refused in result.refused:
        click.echo(f"line {refused['line']}: {refused['error']}", err=True)
    if result.refused_count:
        sys.exit(1)


@click.group()
def inbound() -> None:
    """Inbound texts (numbers masked)."""


@inbound.command("list")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of a table.")
@fail_clearly
def inbound_list(limit: int, as_json: bool) -> None:
    """The latest inbound texts, newest first."""
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415

    store = default_dispatcher().inbound
    views = [m.public_view() for m in store.latest(limit=limit)]
    if as_json:
        for view in views:
            click.echo(json.dumps(view))
        return
    click.echo(f"{store.count()} inbound texts kept; showing {len(views)}")
    line = "{:<25}  {:<10}  {:<16}  {:<16}  {:<7}  {}"
    click.echo(line.format("RECEIVED (UTC)", "PROVIDER", "FROM", "TO", "KEYWORD", "TEXT"))
    for view in views:
        text = view["text"] if view["text"] is not None else "(dropped)"
        click.echo(
            line.format(
                iso_time(view["received_at_ms"]),
                view["provider"],
                view["from"],
                view["to"],
                view["keyword"] or "-",
                text[:60],
            )
        )


@click.command()
@click.argument("number")
@click.option("--yes", is_flag=True, help="Confirm: what is erased is gone for good.")
@fail_clearly
def erase(number: str, yes: bool) -> None:
    """Erase NUMBER: every message record, dead letter, inbound text and idempotency entry of it
    (its opt-out entries stay, as digests, so it stays opted out)."""
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415

    if not yes:
        raise click.UsageError("erasing deletes the number's records for good: add --yes")
    erased = default_dispatcher().erase_number(number)
    click.echo(", ".join(f"{name} {count}" for name, count in erased.items()))
