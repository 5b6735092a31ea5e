"""Delivery reports: each personality's callback (or status lookup) is read by its adapter."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from dispatcher.config.settings import Settings
from dispatcher.devstack.embedded_redis import free_port
from dispatcher.sending.loop_thread import LoopThread
from providers.adapters.twilio import verify_callback
from providers.base import HttpAnswer, InboundReport, OutboundSms, Provider, StatusPolling
from providers.registry import build_provider
from providers.simulator import ScriptedAnswer
from providers.transport import exchange, send_through
from tests.conftest import RunningSimulator, serve_on_loopback, test_secret, wait_for

_numbers = itertools.count(1)


@dataclass
class Receiver:
    """A web app's callback endpoint on loopback that keeps what it is sent."""

    url: str
    received: list[InboundReport] = field(default_factory=list)


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread("reports-loop")
    yield thread
    thread.stop()


@pytest.fixture(scope="module")
def receiver(loop_thread: LoopThread) -> Iterator[Receiver]:
    port = free_port()
    found = Receiver(f"http://127.0.0.1:{port}/reports")

    async def keep(request: web.Request) -> web.Response:
        found.received.append(
            InboundReport(
                body=await request.read(),
                content_type=request.content_type,
                query=dict(request.query),
                headers=dict(request.headers),
                url=found.url,
            )
        )
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/reports", keep)
    runner = serve_on_loopback(loop_thread, app, port)
    yield found
    loop_thread.run(runner.cleanup(), timeout_s=10)


@pytest.fixture
def adapters(settings: Settings, receiver: Receiver) -> dict[str, Provider]:
    """The configured adapters; Sinch and Twilio name the receiver as their callback URL."""
    built = {}
    for name, provider in settings.providers.items():
        options = provider.options()
        if provider.kind == "sinch":
            options["callback_url"] = receiver.url
        if provider.kind == "twilio":
            options["status_callback"] = receiver.url
        built[name] = build_provider(name, provider.kind, options)
    return built


def sms(to: str) -> OutboundSms:
    return OutboundSms(
        message_id=f"01REPORT{next(_numbers):018d}",
        to_e164=to,
        body="report me",
        sender=None,
        encoding="GSM-7",
        segments=1,
    )


def send(loop_thread: LoopThread, provider: Provider, message: OutboundSms) -> str:
    async def run() -> str:
        async with aiohttp.ClientSession() as session:
            outcome = await send_through(session, provider, message)
        assert outcome.verdict.provider_message_id, outcome.verdict
        return outcome.verdict.provider_message_id

    return loop_thread.run(run(), timeout_s=30)


@pytest.mark.parametrize("provider", ["sinch", "twilio", "vonage", "cecula", "gosms", "yellowpush"])
@pytest.mark.parametrize("outcome", ["delivered", "failed"])
def test_callback_is_read_by_the_adapter(
    provider: str,
    outcome: str,
    *,
    simulator: RunningSimulator,
    adapters: dict[str, Provider],
    receiver: Receiver,
    loop_thread: LoopThread,
) -> None:
    """The simulator posts the provider's report; the adapter reads delivered or undelivered."""
    receiver.received.clear()
    simulator.state.report_delay_ms = 10
    if provider not in ("sinch", "twilio"):  # these two name the URL in the send itself
        simulator.state.report_urls[provider] = receiver.url
    to = f"+4670{next(_numbers):07d}"
    simulator.state.script(to, [ScriptedAnswer(success=True, report=outcome)])
    message = sms(to)
    provider_message_id = send(loop_thread, adapters[provider], message)
    wait_for(lambda: receiver.received, timeout_s=10)
    (report,) = adapters[provider].read_delivery_report(receiver.received[0])
    assert report.status == ("delivered" if outcome == "delivered" else "undelivered")
    assert report.provider_message_id == provider_message_id
    if outcome == "failed":
        assert report.reason
    if provider in ("sinch", "vonage"):  # the two that echo our reference
        assert report.client_reference == message.message_id


def test_twilio_callback_signature_verifies(
    simulator: RunningSimulator,
    adapters: dict[str, Provider],
    receiver: Receiver,
    loop_thread: LoopThread,
) -> None:
    """Twilio's X-Twilio-Signature verifies with the auth token, and fails with another."""
    receiver.received.clear()
    simulator.state.report_delay_ms = 10
    send(loop_thread, adapters["twilio"], sms(f"+1415555{next(_numbers):04d}"))
    wait_for(lambda: receiver.received, timeout_s=10)
    token = test_secret("SMSD_PROVIDERS__TWILIO__AUTH_TOKEN")
    assert verify_callback(token, receiver.received[0])
    assert not verify_callback("another-token", receiver.received[0])


@pytest.mark.parametrize("provider", ["gosms", "yellowpush"])
def test_status_is_polled(
    provider: str,
    simulator: RunningSimulator,
    adapters: dict[str, Provider],
    loop_thread: LoopThread,
) -> None:
    """GoSMS and YellowPush document no callback: the status lookup is pending, then final."""
    simulator.state.report_delay_ms = 300
    adapter = adapters[provider]
    assert isinstance(adapter, StatusPolling)
    to = f"+4670{next(_numbers):07d}"
    simulator.state.script(to, [ScriptedAnswer(success=True, report="failed")])
    provider_message_id = send(loop_thread, adapter, sms(to))

    async def poll() -> list[str | None]:
        query = adapter.build_status_query(provider_message_id)
        statuses: list[str | None] = []
        async with aiohttp.ClientSession() as session:
            for pause_s in (0, 0.4):
                await asyncio.sleep(pause_s)
                answer = await exchange(session, query, timeout_s=5)
                assert isinstance(answer, HttpAnswer), answer
                report = adapter.read_status_answer(answer)
                statuses.append(report.status if report else None)
        return statuses

    assert loop_thread.run(poll(), timeout_s=15) == ["pending", "undelivered"]
