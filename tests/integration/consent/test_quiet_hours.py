"""Quiet hours on real parts (Redis, the loop bridge, the simulator), with a clock the test sets:
a marketing message due inside its recipient's quiet hours waits in the delay queue until they
end, a transactional one goes, and one whose validity ends first expires, reason quiet_hours."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
import redis

from dispatcher.config.settings import QuietHoursSettings, Settings
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.sending.send_bridge import SendBridge
from dispatcher.store.redis_keys import DELAY_QUEUE
from tests.conftest import RunningSimulator
from tests.send_path_helpers import DirectCourier

LONDON = "+442079460000"


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


class Clock:
    def __init__(self, at_ms: int) -> None:
        self.at_ms = at_ms

    def __call__(self) -> int:
        return self.at_ms


@pytest.fixture
def bridge() -> Iterator[SendBridge]:
    running = SendBridge(connections_per_provider=8)
    yield running
    running.close()


@dataclass
class Night:
    """A dispatcher and a courier whose clock the test sets, under 21:00 to 08:00 quiet hours."""

    clock: Clock
    core: Dispatcher
    courier: DirectCourier


@pytest.fixture
def night(settings: Settings, redis_client: redis.Redis, bridge: SendBridge) -> Iterator[Night]:
    quiet = settings.model_copy(
        update={"quiet_hours": QuietHoursSettings(start="21:00", end="08:00")}
    )
    clock = Clock(ms("2026-12-03T22:30:00+00:00"))
    core = Dispatcher(quiet, clock_ms=clock)
    yield Night(clock, core, DirectCourier(quiet, core, bridge, clock_ms=clock))
    core.close()


def test_marketing_waits_for_the_morning_transactional_goes_at_night(
    night: Night, redis_client: redis.Redis, simulator: RunningSimulator
) -> None:
    clock, core, courier = night.clock, night.core, night.courier

    sale = core.send_sms(LONDON, "Winter sale", category="marketing", validity=86_400)
    code = core.send_sms(LONDON, "Your code is 1234")  # transactional
    assert courier.deliver(code) == "accepted"
    assert courier.deliver(sale) == "retry_scheduled"
    morning = ms("2026-12-04T08:00:00+00:00")
    held = core.get_status(sale)
    assert (held["next_attempt_at_ms"], held["attempt_count"]) == (morning, 0)
    assert redis_client.zscore(DELAY_QUEUE, sale) == morning
    assert [r.client_reference for r in simulator.state.requests] == [code]

    clock.at_ms = morning - 60_000
    assert courier.deliver(sale) == "not_due"  # the delay queue hands it over at 08:00
    clock.at_ms = morning
    assert courier.deliver(sale) == "accepted"
    assert [r.client_reference for r in simulator.state.requests] == [code, sale]


def test_a_marketing_message_whose_validity_ends_first_expires(night: Night) -> None:
    sale = night.core.send_sms(LONDON, "Tonight only", category="marketing", validity=3_600)
    assert night.courier.deliver(sale) == "expired"
    status = night.core.get_status(sale)
    assert (status["state"], status["final_reason"]) == ("expired", "quiet_hours")
