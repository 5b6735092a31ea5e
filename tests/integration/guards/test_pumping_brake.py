"""The pumping guard's brake on a real Redis: a country whose OTPs go unused gets no more of
them for a cool-down, an operator may release it, and it comes off with a fresh start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from click.testing import CliRunner

from dispatcher.cli import main
from dispatcher.config.guard_settings import GuardSettings
from dispatcher.config.settings import Settings
from dispatcher.errors import InvalidMessage, MessageNotFound, Refused
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import METRICS, PUMPING_BRAKES
from tests.conftest import OPERATOR_KEY, ApiFactory
from tests.integration.http_api.test_api import call, exchange

HOUR_MS = 3_600_000
START_MS = 1_800_000_000_000 + HOUR_MS // 2  # half-way into a window


class Clock:
    def __init__(self) -> None:
        self.now_ms = START_MS

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def braking(settings: Settings, redis_client: redis.Redis, clock: Clock) -> Iterator[Dispatcher]:
    """At least 10 OTPs a country, half of them converted, or a minute's brake."""
    guard = GuardSettings(
        per_number=0, per_range=0, min_otps=10, min_conversion_rate=0.5, brake_cool_down_s=60
    )
    core = Dispatcher(settings.model_copy(update={"guard": guard}), clock_ms=clock)
    yield core
    core.close()


def us_number(n: int) -> str:
    return f"+1415555{n:04d}"


def send_otps(core: Dispatcher, count: int, converted: int, first: int = 0) -> list[str]:
    ids = [core.send_sms(us_number(first + n), f"code {n}", category="otp") for n in range(count)]
    for message_id in ids[:converted]:
        assert core.report_conversion(message_id)["repeat"] is False
    return ids


def test_a_country_whose_codes_go_unused_is_braked_until_released(
    braking: Dispatcher, redis_client: redis.Redis
) -> None:
    send_otps(braking, 10, converted=3)
    with pytest.raises(Refused) as refused:
        braking.send_sms(us_number(100), "code", category="otp")
    assert refused.value.code == "pumping_suspected"
    assert refused.value.retry_after_s == 60
    assert "smsdispatch guard release US" in str(refused.value)
    with pytest.raises(Refused):  # held, and not put on again
        braking.send_sms(us_number(101), "code", category="otp")
    assert redis_client.hget(METRICS, "refused|pumping_suspected") == "2"
    assert redis_client.hget(METRICS, "brakes|engaged|US") == "1"  # the operator's alert
    assert redis_client.hget(METRICS, "conversions|otp") == "3"
    # Only OTPs to that country are held.
    braking.send_sms(us_number(102), "your parcel is on its way")
    braking.send_sms("+447400123456", "code", category="otp")
    assert braking.pumping_guard.brakes() == [
        {"country": "US", "until_ms": START_MS + 60_000, "in_force": True}
    ]
    assert braking.pumping_guard.release("US")
    assert not braking.pumping_guard.release("US")
    # A fresh start: ten more before it is judged again.
    send_otps(braking, 10, converted=0, first=200)
    with pytest.raises(Refused):
        braking.send_sms(us_number(300), "code", category="otp")


def test_a_country_whose_codes_are_used_is_not_braked(braking: Dispatcher) -> None:
    send_otps(braking, 10, converted=5)
    for n in range(5):  # 5 of 11..15: the rate stays at or above a half while they are used
        message_id = braking.send_sms(us_number(100 + n), "code", category="otp")
        braking.report_conversion(message_id)


def test_a_brake_runs_out_and_comes_off_with_a_fresh_start(
    braking: Dispatcher, clock: Clock, redis_client: redis.Redis
) -> None:
    send_otps(braking, 10, converted=0)
    with pytest.raises(Refused):
        braking.send_sms(us_number(100), "code", category="otp")
    clock.now_ms += 61_000
    assert braking.pumping_guard.brakes()[0]["in_force"] is False
    for n in range(10):  # the counts that put it on are forgotten
        braking.send_sms(us_number(200 + n), "code", category="otp")
    assert redis_client.hget(PUMPING_BRAKES, "US") is None
    with pytest.raises(Refused):
        braking.send_sms(us_number(300), "code", category="otp")


def test_a_conversion_is_counted_once_and_only_an_otps_feeds_the_brake(
    braking: Dispatcher, redis_client: redis.Redis, clock: Clock
) -> None:
    (otp,) = send_otps(braking, 1, converted=1)
    again = braking.report_conversion(otp)
    assert again == {"id": otp, "converted_at_ms": START_MS, "repeat": True}
    receipt = braking.send_sms(us_number(50), "your receipt")
    braking.report_conversion(receipt)
    assert braking.get_status(receipt)["converted_at_ms"] == START_MS
    assert redis_client.hget(METRICS, "conversions|otp") == "1"
    assert redis_client.hget(METRICS, "conversions|other") == "1"
    with pytest.raises(MessageNotFound):
        braking.report_conversion("01NOSUCHMESSAGE")
    with pytest.raises(InvalidMessage) as bad:
        braking.pumping_guard.release("usa")
    assert bad.value.fields == {"country": "must be an ISO 3166 region code, e.g. US"}


@pytest.fixture
def brake_env(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The test stack with a brake after 3 OTPs a country, half of them to be converted."""
    env = {"SMSD_GUARD__MIN_OTPS": "3", "SMSD_GUARD__MIN_CONVERSION_RATE": "0.5"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {**stack_env, **env}


def test_the_brake_over_http_and_the_command_line(
    brake_env: dict[str, str], api_factory: ApiFactory, dispatcher: Dispatcher
) -> None:
    api = api_factory()
    ids = [dispatcher.send_sms(us_number(n), "code", category="otp") for n in range(3)]
    status, noted = call("POST", f"{api.url}/v1/messages/{ids[0]}/conversion")
    assert (status, noted["id"], noted["repeat"]) == (200, ids[0], False)
    assert call("POST", f"{api.url}/v1/messages/01NOPE/conversion")[0] == 404
    status, body, headers = exchange(
        "POST", f"{api.url}/v1/messages", {"to": us_number(9), "body": "code", "category": "otp"}
    )
    assert status == 429
    assert body["error"]["code"] == "pumping_suspected"
    assert int(headers["Retry-After"]) == body["error"]["retry_after_s"] > 1700
    status, brakes = call("GET", f"{api.url}/v1/guard/brakes", key=OPERATOR_KEY)
    assert [b["country"] for b in brakes["brakes"]] == ["US"]
    listed = _cli(["guard", "brakes"], brake_env)
    assert listed.startswith("US  until ")
    assert "in force" in listed
    assert _cli(["guard", "release", "US"], brake_env).splitlines()[-1] == "released US"
    assert call("DELETE", f"{api.url}/v1/guard/brakes/US", key=OPERATOR_KEY)[0] == 404
    assert call("DELETE", f"{api.url}/v1/guard/brakes/usa", key=OPERATOR_KEY)[0] == 422


def _cli(args: list[str], env: dict[str, str]) -> str:
    result = CliRunner().invoke(main, args, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output
