"""Every aiohttp client exception has a transport phase of its own."""

from __future__ import annotations

import inspect

import pytest
from aiohttp import client_exceptions

from providers.outcome import TransportPhase
from providers.transport import _PHASES, failure_phase

CLIENT_ERRORS = [
    cls
    for _, cls in inspect.getmembers(client_exceptions, inspect.isclass)
    if issubclass(cls, client_exceptions.ClientError) and cls is not client_exceptions.ClientError
]


@pytest.mark.parametrize("exc_type", CLIENT_ERRORS, ids=lambda c: c.__name__)
def test_every_client_error_is_mapped_explicitly(exc_type: type[BaseException]) -> None:
    """No aiohttp error reaches the fallback: each one is listed (or is a listed one's subclass)."""
    assert any(issubclass(exc_type, mapped) for mapped, _ in _PHASES), exc_type


def test_asyncio_timeout_is_mapped() -> None:
    """asyncio.TimeoutError is not an aiohttp.ClientError and still has a phase."""
    assert failure_phase(TimeoutError()) is TransportPhase.AFTER_SEND


@pytest.mark.parametrize(
    ("exc_type", "phase"),
    [
        (client_exceptions.ConnectionTimeoutError, TransportPhase.BEFORE_SEND),
        (client_exceptions.SocketTimeoutError, TransportPhase.AFTER_SEND),
        (client_exceptions.ServerDisconnectedError, TransportPhase.AFTER_SEND),
        (client_exceptions.ClientPayloadError, TransportPhase.AFTER_SEND),
        (client_exceptions.InvalidURL, TransportPhase.BEFORE_SEND),
    ],
)
def test_phase_of_known_errors(exc_type: type[BaseException], phase: TransportPhase) -> None:
    """A connect timeout never reached the provider; a read timeout may have."""
    exc = exc_type("http://x") if issubclass(exc_type, client_exceptions.InvalidURL) else exc_type()
    assert failure_phase(exc) is phase


def test_unrelated_errors_have_no_phase() -> None:
    """A bug (ValueError) is not mistaken for a transport failure."""
    assert failure_phase(ValueError("x")) is None
