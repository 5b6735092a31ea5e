"""The worker's send bridge: sends started from any thread run on the loop, and none outlives
its provider's budget plus the grace, even one that ignores its own timeouts."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from dispatcher.config.provider_adapters import build_providers
from dispatcher.config.settings import Settings
from dispatcher.sending.send_bridge import SendBridge
from providers.base import OutboundSms, Provider
from providers.outcome import OutcomeKind
from providers.transport import SendOutcome
from tests.conftest import RunningSimulator

SMS = OutboundSms(
    message_id="01BRIDGE",
    to_e164="+14155552671",
    body="hi",
    sender=None,
    encoding="GSM-7",
    segments=1,
)


@dataclass
class _Stalled:
    name: str = "stalled"
    timeout_s: float = 0.1


class _StallingBridge(SendBridge):
    """A bridge whose exchanges never end by themselves."""

    async def _send(self, provider: Provider, sms: OutboundSms) -> SendOutcome:
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")


def _wait(results: Sequence[object], count: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while len(results) < count:
        assert time.monotonic() < deadline, f"{len(results)} of {count} sends ended"
        time.sleep(0.02)


def test_sends_from_many_threads_end_on_the_loop(
    settings: Settings, simulator: RunningSimulator
) -> None:
    provider = build_providers(settings)["sinch"]
    bridge = SendBridge(connections_per_provider=8)
    results: list[SendOutcome | BaseException] = []
    try:
        threads = [
            threading.Thread(target=bridge.send_then, args=(provider, SMS, results.append))
            for _ in range(20)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _wait(results, 20, 10)
    finally:
        bridge.close()
    assert all(isinstance(r, SendOutcome) for r in results)
    assert {r.verdict.kind for r in results if isinstance(r, SendOutcome)} == {OutcomeKind.ACCEPTED}
    assert simulator.state.total_sends == 20


def test_a_send_past_its_budget_ends_as_a_bridge_timeout() -> None:
    bridge = _StallingBridge(connections_per_provider=2)
    results: list[SendOutcome | BaseException] = []
    started = time.monotonic()
    try:
        bridge.send_then(_Stalled(), SMS, results.append)  # type: ignore[arg-type]
        _wait(results, 1, 10)
    finally:
        bridge.close()
    took = time.monotonic() - started
    # 0.1 s budget + 2 s grace, looked for every 0.5 s.
    assert 2.0 <= took <= 3.5, took
    (outcome,) = results
    assert isinstance(outcome, SendOutcome)
    assert outcome.verdict.kind is OutcomeKind.AMBIGUOUS
    assert "BridgeTimeout" in outcome.verdict.reason


def test_the_watch_stops_once_every_send_ended() -> None:
    """The watch over overdue sends does not rearm itself with nothing under way."""
    count = 3
    bridge = _StallingBridge(connections_per_provider=2)
    results: list[SendOutcome | BaseException] = []
    try:
        for _ in range(count):
            bridge.send_then(_Stalled(), SMS, results.append)  # type: ignore[arg-type]
        _wait(results, count, 10)
        time.sleep(0.7)
        assert not bridge._watching
        assert not bridge._under_way
    finally:
        bridge.close()


class _CountingBridge(SendBridge):
    """A real bridge that counts how often the loop was woken to start sends."""

    wakes = 0

    def _start_arrivals(self) -> None:
        self.wakes += 1
        super()._start_arrivals()


def test_sends_handed_over_while_the_loop_is_busy_start_with_one_wake(
    settings: Settings, simulator: RunningSimulator
) -> None:
    """Only the hand-over that finds none waiting wakes the loop; the sends handed over before
    the loop gets to them start with it."""
    provider = build_providers(settings)["sinch"]
    bridge = _CountingBridge(connections_per_provider=8)
    results: list[SendOutcome | BaseException] = []
    try:
        busy = threading.Event()

        def hold_the_loop() -> None:
            busy.set()
            time.sleep(0.3)

        bridge._loop_thread.loop.call_soon_threadsafe(hold_the_loop)
        assert busy.wait(5)
        for _ in range(10):  # the loop is asleep in its callback meanwhile
            bridge.send_then(provider, SMS, results.append)
        _wait(results, 10, 10)
    finally:
        bridge.close()
    assert bridge.wakes == 1
    assert all(isinstance(r, SendOutcome) for r in results)
    assert simulator.state.total_sends == 10
