"""The consumer's broker connection is retried every second, not on kombu's growing steps."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from kombu.connection import Connection
from kombu.exceptions import OperationalError

from dispatcher.config.settings import Settings
from dispatcher.queueing.celery_app import celery_config
from dispatcher.queueing.prompt_reconnect import (
    RECONNECT_INTERVAL_S,
    PromptReconnectConsumer,
    retry_promptly,
)


def closed_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("prompt", [True, False])
def test_a_lost_broker_is_tried_again_every_second(prompt: bool) -> None:
    url = f"redis://127.0.0.1:{closed_loopback_port()}/0"
    conn: Any = Connection(url, connect_timeout=1)  # type: ignore[no-untyped-call]
    if prompt:
        conn = retry_promptly(retry_promptly(conn))  # wrapping twice changes nothing
    slept: list[float] = []
    try:
        with pytest.raises(OperationalError):
            conn.ensure_connection(
                lambda exc, interval: slept.append(interval),
                max_retries=3,
                # kombu's own steps, shortened so the test is quick: what the wrapper replaces
                **({} if prompt else {"interval_start": 0.1, "interval_step": 0.1}),
            )
    finally:
        conn.release()
    expected = [RECONNECT_INTERVAL_S] * 3 if prompt else [0.1, 0.2, 0.30000000000000004]
    assert slept == pytest.approx(expected), slept


def test_the_worker_runs_the_prompt_consumer() -> None:
    config = celery_config(Settings(), "redis://127.0.0.1:6379/0")
    module, _, name = config["worker_consumer"].partition(":")
    assert (module, name) == (PromptReconnectConsumer.__module__, "PromptReconnectConsumer")
