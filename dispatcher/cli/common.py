"""What the commands share: one clear line and an exit code for our errors, times as ISO."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from dispatcher.errors import (
    ConfigError,
    DispatchError,
    InvalidMessage,
    Refused,
    StoreAuthenticationError,
    StoreError,
)

__all__ = ["fail_clearly", "iso_time"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _redis_failure(exc: StoreError) -> None:
    """Say what Redis did, in one line (exit 3). redis-py's messages name the host and port,
    never the password."""
    if isinstance(exc, StoreAuthenticationError):
        click.echo("error: Redis refused the password in SMSD_REDIS_URL", err=True)
    else:
        click.echo(f"error: Redis is unavailable ({exc.error}: {exc.detail})", err=True)
    sys.exit(3)


def fail_clearly(function: _F) -> _F:
    """Turn our own errors into one clear line and an exit code instead of a traceback."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except InvalidMessage as exc:
            for name, reason in exc.fields.items():
                click.echo(f"error: {name}: {reason}", err=True)
            sys.exit(1)
        except Refused as exc:
            click.echo(f"error: {exc.code}: {exc}", err=True)
            sys.exit(1)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except StoreError as exc:
            _redis_failure(exc)
        except DispatchError as exc:
            if isinstance(exc.__cause__, StoreError):  # an EnqueueError from Redis
                _redis_failure(exc.__cause__)
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper  # type: ignore[return-value]


def iso_time(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
