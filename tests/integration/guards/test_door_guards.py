"""The guards at the door on a real Redis: the country lists and the pumping guard's limits
refuse a message before anything of it is kept, and count what they refuse."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis

from dispatcher.config.guard_settings import CategoryLimitSettings, GuardSettings
from dispatcher.config.settings import Settings
from dispatcher.errors import Refused
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import METRICS

NUMBER = "+14155552671"
SAME_RANGE = "+14155550199"
OTHER_RANGE = "+14155562671"
UK = "+447400123456"


@pytest.fixture
def guarded(settings: Settings, redis_client: redis.Redis) -> Iterator[Dispatcher]:
    """A dispatcher with tight limits: 3 a number, 5 a range, 2 OTPs a number."""
    guard = GuardSettings(
        per_number=3,
        per_range=5,
        categories={"otp": CategoryLimitSettings(per_number=2)},
    )
    core = Dispatcher(settings.model_copy(update={"guard": guard}))
    yield core
    core.close()


def _records(client: redis.Redis) -> int:
    return len(client.keys("smsd:msg:*"))


def test_a_number_over_its_limit_is_refused_with_when_to_try_again(
    guarded: Dispatcher, redis_client: redis.Redis
) -> None:
    for n in range(3):
        guarded.send_sms(NUMBER, f"order {n} shipped")
    keys_before = set(redis_client.keys("*"))
    with pytest.raises(Refused) as refused:
        guarded.send_sms(NUMBER, "order 3 shipped", idempotency_key="order-3")
    assert refused.value.code == "destination_rate_limited"
    assert refused.value.limit == "per_number"
    assert refused.value.field == "to"
    # The three are in this window: room again once it is the window before and weighs a
    # third of them off, 20 minutes into the next at the earliest, 80 at the latest.
    assert refused.value.retry_after_s is not None
    assert 1200 <= refused.value.retry_after_s <= 4800
    assert "415555" not in str(refused.value)
    # Nothing kept, the key not claimed; only the refusal counted.
    assert set(redis_client.keys("*")) - {METRICS} == keys_before - {METRICS}
    assert redis_client.hget(METRICS, "refused|destination_rate_limited") == "1"
    assert redis_client.hget(METRICS, "limited|number") == "1"
    # Another number of the range still goes, until the range is full.
    guarded.send_sms(SAME_RANGE, "hello")
    guarded.send_sms(SAME_RANGE, "hello again")
    with pytest.raises(Refused) as refused:
        guarded.send_sms(SAME_RANGE, "and again")
    assert refused.value.limit == "per_range"
    guarded.send_sms(OTHER_RANGE, "another range")
    assert _records(redis_client) == 6


def test_otps_count_apart_with_their_own_limits(
    guarded: Dispatcher, redis_client: redis.Redis
) -> None:
    guarded.send_sms(NUMBER, "code 1", category="otp")
    guarded.send_sms(NUMBER, "code 2", category="otp")
    with pytest.raises(Refused) as refused:
        guarded.send_sms(NUMBER, "code 3", category="otp")
    assert refused.value.limit == "per_number"
    assert "otp" in str(refused.value)
    for n in range(3):  # the transactional messages have their own three
        guarded.send_sms(NUMBER, f"receipt {n}")
    assert _records(redis_client) == 5


def test_a_repeated_idempotency_key_is_not_counted_again(guarded: Dispatcher) -> None:
    first = guarded.send_sms(NUMBER, "code 1", category="otp", idempotency_key="otp-1")
    for _ in range(5):
        assert guarded.send_sms(NUMBER, "code 1", category="otp", idempotency_key="otp-1") == first
    guarded.send_sms(NUMBER, "code 2", category="otp")  # the second of two


def test_a_bulk_send_refuses_only_the_messages_over_a_limit(
    guarded: Dispatcher, redis_client: redis.Redis
) -> None:
    results = guarded.send_bulk([{"to": NUMBER, "body": f"news {n}"} for n in range(5)])
    assert [("id" in r) for r in results] == [True, True, True, False, False]
    error = results[3]["error"]
    assert error["code"] == "destination_rate_limited"
    assert error["limit"] == "per_number"
    assert error["field"] == "to"
    assert error["retry_after_s"] >= 1
    assert _records(redis_client) == 3


def test_the_limits_hold_for_many_senders_at_once(
    guarded: Dispatcher, redis_client: redis.Redis, settings: Settings
) -> None:
    """Eight dispatchers (each its own connection) sending 40 messages to one number at once:
    exactly its limit go."""
    guard = guarded._settings.guard
    senders = [Dispatcher(settings.model_copy(update={"guard": guard})) for _ in range(8)]
    outcomes: list[str] = []
    lock = threading.Lock()

    def send(sender: Dispatcher) -> None:
        for n in range(5):
            try:
                sender.send_sms(NUMBER, f"hello {n}")
                result = "sent"
            except Refused as exc:
                result = exc.code
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=send, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for sender in senders:
        sender.close()
    assert outcomes.count("sent") == 3
    assert outcomes.count("destination_rate_limited") == 37
    assert _records(redis_client) == 3


def test_a_country_off_the_allow_list_is_refused_before_redis_keeps_anything(
    settings: Settings, redis_client: redis.Redis
) -> None:
    core = Dispatcher(
        settings.model_copy(update={"guard": GuardSettings(allowed_countries=("US", "CA"))})
    )
    core.send_sms(NUMBER, "hello")
    keys_before = set(redis_client.keys("*")) - {METRICS}
    with pytest.raises(Refused) as refused:
        core.send_sms(UK, "hello")
    assert refused.value.code == "country_not_allowed"
    assert refused.value.retry_after_s is None
    assert str(refused.value) == (
        "to: is a number in GB, which is not on the allowed countries (CA, US)"
    )
    assert set(redis_client.keys("*")) - {METRICS} == keys_before
    assert redis_client.hget(METRICS, "refused|country_not_allowed") == "1"
    results = core.send_bulk([{"to": UK, "body": "a"}, {"to": NUMBER, "body": "b"}])
    assert results[0]["error"]["code"] == "country_not_allowed"
    assert "id" in results[1]
    core.close()


def test_a_denied_country_is_refused(settings: Settings) -> None:
    core = Dispatcher(
        settings.model_copy(update={"guard": GuardSettings(denied_countries=("GB",))})
    )
    with pytest.raises(Refused, match=r"guard\.denied_countries"):
        core.send_sms(UK, "hello")
    core.close()
