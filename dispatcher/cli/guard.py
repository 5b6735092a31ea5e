"""``smsdispatch guard``: the pumping guard's brakes from the command line."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from dispatcher.cli.common import fail_clearly, iso_time

if TYPE_CHECKING:
    from dispatcher.intake.pumping_guard import PumpingGuard

__all__ = ["guard"]


def _guard() -> PumpingGuard:
    from dispatcher.intake.enqueue import default_dispatcher  # noqa: PLC0415

    return default_dispatcher().pumping_guard


@click.group("guard")
def guard() -> None:
    """The pumping guard's brakes on one-time codes: list them, release one."""


@guard.command("brakes")
@fail_clearly
def guard_brakes() -> None:
    """Every brake put on: country, until when, whether it is still in force."""
    found = _guard().brakes()
    if not found:
        click.echo("no brake is on")
    for brake in found:
        state = "in force" if brake["in_force"] else "run out (off at the next OTP)"
        click.echo(f"{brake['country']}  until {iso_time(brake['until_ms'])}  {state}")


@guard.command("release")
@click.argument("country")
@fail_clearly
def guard_release(country: str) -> None:
    """Take COUNTRY's brake off (ISO region, e.g. US), with a fresh start of its counts."""
    if not _guard().release(country):
        click.echo(f"no brake is on for {country}", err=True)
        sys.exit(1)
    click.echo(f"released {country}")
