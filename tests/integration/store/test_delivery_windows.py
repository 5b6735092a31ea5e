"""The delivery windows on the real Redis: a final report is counted, by the destination's
country and the wait since the acceptance, in the script that applies it; the window sums its
buckets and forgets those older than it."""

from __future__ import annotations

import redis

from dispatcher.core.delivery_health import REPORT_LATENCY_BUCKETS_MS
from dispatcher.store.delivery_windows import DeliveryWindows
from dispatcher.store.messages import MessageStore
from dispatcher.store.redis_keys import message_key
from tests.integration.store.test_store import NOW, accepted

HOUR_MS = 3_600_000


def _accepted(store: MessageStore, message_id: str, *, country: str, at_ms: int) -> None:
    changes = {"accepted_at_ms": str(at_ms), "country_code": country}
    accepted(store, message_id, at_ms=at_ms, changes=changes)


def _report(store: MessageStore, message_id: str, state: str, at_ms: int) -> str:
    return store.apply_report(
        message_id, provider="sinch", state=state, provider_status="X", reason="", now_ms=at_ms
    )


def test_final_reports_are_counted_by_country_and_wait(redis_client: redis.Redis) -> None:
    store = MessageStore(redis_client, retention_s=100, delivery_window_s=3_600)
    windows = DeliveryWindows(redis_client, window_ms=HOUR_MS)
    for n, (country, state, wait_ms) in enumerate(
        [
            ("44", "delivered", 3_000),
            ("44", "delivered", 4_000),
            ("44", "undelivered", 20_000),
            ("1", "delivered", 500),
        ]
    ):
        _accepted(store, f"01D{n}", country=country, at_ms=NOW)
        assert _report(store, f"01D{n}", state, NOW + wait_ms) == "applied"
    assert _report(store, "01D0", "delivered", NOW + 9_000) == "same"  # a repeat counts nothing
    _accepted(store, "01DP", country="44", at_ms=NOW)
    assert _report(store, "01DP", "pending", NOW + 1_000) == "pending"  # not final: not counted
    found = windows.read(["sinch", "twilio"], now_ms=NOW + 60_000)
    assert found["twilio"] == {}
    uk = found["sinch"]["44"]
    assert (uk.delivered, uk.undelivered) == (2, 1)
    assert uk.latency_counts[2] == 2  # 3 s and 4 s: in (2 s, 5 s]
    assert uk.latency_counts[4] == 1  # 20 s: in (10 s, 30 s]
    assert sum(uk.latency_counts) == 3
    assert found["sinch"]["1"].latency_counts[0] == 1
    assert len(uk.latency_counts) == len(REPORT_LATENCY_BUCKETS_MS) + 1


def test_the_window_forgets_what_is_older_than_it(redis_client: redis.Redis) -> None:
    store = MessageStore(redis_client, retention_s=100, delivery_window_s=3_600)
    windows = DeliveryWindows(redis_client, window_ms=HOUR_MS)
    _accepted(store, "01OLD", country="44", at_ms=NOW)
    _report(store, "01OLD", "undelivered", NOW + 1_000)
    _accepted(store, "01NEW", country="44", at_ms=NOW + HOUR_MS // 2)
    _report(store, "01NEW", "delivered", NOW + HOUR_MS // 2)
    now = windows.read(["sinch"], now_ms=NOW + HOUR_MS // 2 + 2_000)["sinch"]["44"]
    assert (now.delivered, now.undelivered) == (1, 1)  # both inside the hour
    later = windows.read(["sinch"], now_ms=NOW + HOUR_MS + HOUR_MS // 4)["sinch"]["44"]
    assert (later.delivered, later.undelivered) == (1, 0)  # the first is over an hour old
    assert redis_client.ttl(f"smsd:delivery:sinch:{(NOW + 1_000) // (HOUR_MS // 12)}") > 0


def test_a_message_accepted_before_the_window_came_in_counts_as_unknown(
    redis_client: redis.Redis,
) -> None:
    store = MessageStore(redis_client, retention_s=100)
    _accepted(store, "01U", country="44", at_ms=NOW)
    redis_client.hdel(message_key("01U"), "country_code", "accepted_at_ms")
    _report(store, "01U", "delivered", NOW + 1_000)
    found = DeliveryWindows(redis_client, window_ms=HOUR_MS).read(["sinch"], now_ms=NOW + 2_000)
    assert found["sinch"]["unknown"].delivered == 1
    assert sum(found["sinch"]["unknown"].latency_counts) == 0
