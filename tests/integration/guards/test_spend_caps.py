"""Prices and spend caps on real parts: every attempt a provider takes records its cost, a
message that would pass a cap is refused at the door (three API processes at once hold the cap
exactly), and a reservation is settled when its message ends (failed, failed over, canceled)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from dispatcher.config.settings import ApiKeySettings, ApiSettings, Settings
from dispatcher.config.spend_settings import CountrySpendSettings, SpendSettings
from dispatcher.core.key_rules import KeyRules
from dispatcher.core.spend_caps import SpendPeriods
from dispatcher.errors import ConfigError, Refused
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.ops.spend_view import spend_view
from dispatcher.store.redis_keys import METRICS, spend_key
from providers.simulator import ScriptedAnswer
from tests.api_processes import running_apis
from tests.conftest import RunningSimulator, WorkerFactory, default_settings, wait_for
from tests.integration.http_api.test_api import exchange
from tests.integration.intake.test_end_to_end import final_status

NUMBER = "+14155552671"
KEYS = [f"test-spend-key-{n}-5b2e" for n in range(3)]
# Sinch's price to +1 numbers, and every provider's default, per segment.
PRICES = {"default": 0.02, "1": 0.01}
PRICE_ENV = {
    f"SMSD_PRICES__{name}__{prefix}": str(price)
    for name in ("SINCH", "GOSMS", "CECULA", "YELLOWPUSH", "TWILIO", "VONAGE")
    for prefix, price in PRICES.items()
}


def priced(settings: Settings, spend: SpendSettings) -> Dispatcher:
    prices = {name: dict(PRICES) for name in settings.providers}
    return Dispatcher(settings.model_copy(update={"prices": prices, "spend": spend}))


def today(client: redis.Redis, counter: str = "all") -> int:
    periods = SpendPeriods.at(int(datetime.now(UTC).timestamp() * 1000))
    return int(client.hget(spend_key(periods.month), f"{periods.day[6:]}|{counter}") or 0)


def month(client: redis.Redis, counter: str = "all") -> int:
    periods = SpendPeriods.at(int(datetime.now(UTC).timestamp() * 1000))
    return int(client.hget(spend_key(periods.month), counter) or 0)


def _costs(status: dict[str, object]) -> list[int]:
    attempts = status["attempts"]
    assert isinstance(attempts, list)
    return [attempt["cost_micros"] for attempt in attempts]


def test_every_attempt_records_its_cost_and_a_reservation_is_settled(
    settings: Settings,
    redis_client: redis.Redis,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
) -> None:
    worker_factory(PRICE_ENV)
    core = priced(settings, SpendSettings(daily_limit=10))
    accepted = core.send_sms(NUMBER, "x" * 200)  # 2 segments at 0.01
    assert today(redis_client) == 20_000  # held at the door
    status = final_status(core, accepted)
    assert status["state"] == "accepted"
    assert (status["cost"], status["currency"]) == (0.02, "USD")
    assert _costs(status) == [20_000]
    # A rejected message cost nothing: its reservation is given back.
    simulator.state.script(
        "+14155552672", [ScriptedAnswer(400, code="syntax_invalid_parameter_format")]
    )
    rejected = core.send_sms("+14155552672", "hello")
    assert final_status(core, rejected)["state"] == "failed"
    # Failed over from Cecula (401) to Twilio: the reservation was Cecula's price, the cost
    # Twilio's; held and spent are the same here (both 0.01 to +1), so nothing moves.
    simulator.state.script("+14155552673", [ScriptedAnswer(401, provider="cecula")])
    moved = core.send_sms("+14155552673", "hello", providers=["cecula", "twilio"])
    wait_for(lambda: core.get_status(moved)["state"] == "accepted", timeout_s=20)
    status = core.get_status(moved)
    assert status["provider"] == "twilio"
    assert _costs(status) == [0, 10_000]
    wait_for(lambda: today(redis_client) == 30_000, timeout_s=10)
    assert month(redis_client) == 30_000
    wait_for(lambda: redis_client.hget(METRICS, "spend|twilio|US") == "10000", timeout_s=10)
    assert redis_client.hget(METRICS, "spend|sinch|US") == "20000"


def test_a_canceled_message_gives_its_reservation_back(
    settings: Settings, redis_client: redis.Redis
) -> None:
    core = priced(
        settings,
        SpendSettings(daily_limit=10, countries={"US": CountrySpendSettings(monthly_limit=5)}),
    )
    later = datetime.now(UTC) + timedelta(hours=1)
    message_id = core.send_sms(NUMBER, "later", send_at=later)
    assert (today(redis_client), month(redis_client, "country:US")) == (10_000, 10_000)
    core.cancel(message_id)
    assert (today(redis_client), month(redis_client, "country:US")) == (0, 0)


def test_a_message_that_would_pass_a_cap_is_refused_and_the_alert_logged(
    settings: Settings, redis_client: redis.Redis
) -> None:
    caps = SpendSettings(daily_limit=0.05, countries={"GB": CountrySpendSettings(daily_limit=0.02)})
    core = priced(settings, caps)
    core.send_sms("+447400123456", "hello")  # 0.02 (the default price): GB's cap is full
    assert redis_client.hget(METRICS, "spend_alerts|day|country:GB") == "1"  # at 80 %
    with pytest.raises(Refused) as refused:
        core.send_sms("+447400123457", "hello")
    assert (refused.value.code, refused.value.limit) == ("spend_cap_reached", "spend.countries.GB")
    for n in range(3):  # 0.01 each, to 0.05 in all: the deployment's cap reaches 80 % at 0.04
        core.send_sms(f"+1415555{n:04d}", "hello")
    assert redis_client.hget(METRICS, "spend_alerts|day|all") == "1"
    with pytest.raises(Refused) as refused:
        core.send_sms("+14155550099", "hello")
    assert refused.value.code == "spend_cap_reached"
    assert refused.value.limit == "spend.daily_limit"
    assert refused.value.retry_after_s is not None  # at the next UTC midnight
    assert 1 <= refused.value.retry_after_s <= 86_400
    assert "0.05 USD" in str(refused.value)
    assert redis_client.hget(METRICS, "refused|spend_cap_reached") == "2"
    assert len(redis_client.keys("smsd:msg:*")) == 4


def test_a_cap_needs_a_price_for_every_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as caught:
        default_settings({"SMSD_SPEND__DAILY_LIMIT": "10", "SMSD_PRICES__SINCH__DEFAULT": "0.01"})
    assert caught.value.setting.startswith("prices.")
    assert caught.value.setting.endswith(".default")


@pytest.fixture
def capped_apis(stack_env: dict[str, str], tmp_path: Path) -> Iterator[list[str]]:
    """Three `smsdispatch api` processes under a daily cap of 100 segments (1.00 at 0.01)."""
    env = {
        **stack_env,
        **PRICE_ENV,
        "SMSD_API__API_KEYS": ",".join(KEYS),
        "SMSD_SPEND__DAILY_LIMIT": "1",
    }
    with running_apis(env, tmp_path, 3) as urls:
        yield urls


def test_three_api_processes_admit_exactly_the_caps_worth(
    capped_apis: list[str], redis_client: redis.Redis
) -> None:
    def post(n: int) -> int:
        body = {"to": f"+1415555{n:04d}", "body": f"hello {n}"}
        # A key for each process: 100 requests each stay within a key's burst of 200.
        url = capped_apis[n % 3]
        return exchange("POST", f"{url}/v1/messages", body, key=KEYS[n % 3])[0]

    with ThreadPoolExecutor(max_workers=30) as pool:
        statuses = list(pool.map(post, range(300)))
    assert (statuses.count(202), statuses.count(429)) == (100, 200)
    assert today(redis_client) == 1_000_000
    assert len(redis_client.keys("smsd:msg:*")) == 100


def test_an_api_keys_own_cap_holds_and_shows(settings: Settings, redis_client: redis.Redis) -> None:
    keys = {"shop": ApiKeySettings(sha256="0" * 64, daily_spend=0.02)}
    configured = settings.model_copy(
        update={
            "api": ApiSettings(keys=keys),
            "prices": {n: dict(PRICES) for n in settings.providers},
        }
    )
    core = Dispatcher(configured)
    shop = KeyRules("shop", daily_spend=keys["shop"].spend_micros()[0])
    for n in range(2):  # 0.01 each: the key's cap is full
        core.enqueue(core.validate(to=f"+1415555{n:04d}", body="hello"), key=shop)
    with pytest.raises(Refused) as refused:
        core.enqueue(core.validate(to="+14155550099", body="hello"), key=shop)
    assert refused.value.limit == "api.keys.shop.daily_spend"
    core.send_sms("+14155550098", "not the shop's")  # no cap of its own: it goes
    assert today(redis_client, "key:shop") == 20_000
    view = spend_view(configured, redis_client, now_ms=int(datetime.now(UTC).timestamp() * 1000))
    assert [(c["name"], c["spent"], c["share"]) for c in view["caps"]] == [
        ("api.keys.shop.daily_spend", 0.02, 1.0)
    ]
    core.close()
