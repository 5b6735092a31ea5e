"""The status-lookup sets on the real Redis: what the finish of an accepted send puts there,
what a round takes (due, within the rate limit, held while asked), what it puts back, and what a
final report takes away."""

from __future__ import annotations

import redis

from dispatcher.store.messages import MessageStore
from dispatcher.store.redis_keys import message_key, poll_queue_key
from dispatcher.store.report_polls import DueLookup, ReportPolls
from tests.integration.store.test_store import NOW, accepted

POLLS = poll_queue_key("gosms")


def _accepted(store: MessageStore, message_id: str, *, first_lookup_ms: int | None) -> None:
    """``message_id`` recorded accepted by GoSMS as ``p-<id>``, first asked about then."""
    accepted(
        store,
        message_id,
        provider="gosms",
        changes={"provider": "gosms", "provider_message_id": f"p-{message_id}"},
        provider_id=("gosms", f"p-{message_id}"),
        report_due_ms=NOW + 60_000,
        first_poll=None if first_lookup_ms is None else ("gosms", first_lookup_ms),
    )


def _take(polls: ReportPolls, now_ms: int, *, most: int = 10, burst: int = 10) -> list[DueLookup]:
    return polls.take_due(
        "gosms", now_ms=now_ms, most=most, lease_ms=5_000, per_second=10.0, burst=burst
    )


def test_an_accepted_send_waits_for_its_first_lookup(redis_client: redis.Redis) -> None:
    """Accepted through a provider that is asked: in its set, due at its first lookup; one
    that is not asked is not there."""
    store = MessageStore(redis_client, retention_s=100)
    _accepted(store, "01A", first_lookup_ms=NOW + 30_000)
    _accepted(store, "01B", first_lookup_ms=None)
    assert redis_client.zrange(POLLS, 0, -1, withscores=True) == [("01A", NOW + 30_000)]


def test_a_round_takes_what_is_due_and_holds_it_while_asked(redis_client: redis.Redis) -> None:
    """Only due lookups are taken; each is held for the lease (not taken again meanwhile, taken
    again after it when nobody put it back) and counted on its record."""
    store, polls = MessageStore(redis_client, retention_s=100), ReportPolls(redis_client)
    _accepted(store, "01A", first_lookup_ms=NOW + 1_000)
    _accepted(store, "01B", first_lookup_ms=NOW + 9_000)
    assert _take(polls, NOW + 500) == []
    assert _take(polls, NOW + 1_000) == [DueLookup("01A", "p-01A", 0)]
    assert _take(polls, NOW + 2_000) == []  # held: a second worker does not ask too
    assert _take(polls, NOW + 6_000) == [DueLookup("01A", "p-01A", 1)]  # its asker died
    assert redis_client.hget(message_key("01A"), "polls") == "2"


def test_the_rate_limit_bounds_a_round_and_is_shared(redis_client: redis.Redis) -> None:
    """At 10 a second with a burst of 3, 8 due lookups go 3 now (whatever ``most`` allows),
    then one every 100 ms: the limiter is in Redis, so every worker's rounds share it."""
    store, polls = MessageStore(redis_client, retention_s=100), ReportPolls(redis_client)
    for n in range(8):
        _accepted(store, f"01M{n}", first_lookup_ms=NOW)
    assert len(_take(polls, NOW, burst=3)) == 3
    assert _take(polls, NOW + 50, burst=3) == []
    assert len(_take(polls, NOW + 100, burst=3)) == 1
    assert len(_take(polls, NOW + 400, burst=3)) == 3
    assert len(_take(polls, NOW + 1_000, most=2, burst=3)) == 1  # the one left


def test_put_back_keeps_a_message_a_report_ended_out(redis_client: redis.Redis) -> None:
    """A lookup put back is due at its next time; a message whose final report came while it
    was being asked (pushed, say) is not put back, and a round drops one no longer accepted."""
    store, polls = MessageStore(redis_client, retention_s=100), ReportPolls(redis_client)
    _accepted(store, "01A", first_lookup_ms=NOW)
    _accepted(store, "01B", first_lookup_ms=NOW)
    _accepted(store, "01C", first_lookup_ms=NOW)
    assert len(_take(polls, NOW)) == 3
    applied = store.apply_report(
        "01B", provider="gosms", state="delivered", provider_status="4", reason="", now_ms=NOW
    )
    assert applied == "applied"
    polls.put_back("gosms", {"01A": NOW + 60_000, "01B": NOW + 60_000}, {"pending": 2})
    assert redis_client.zscore(POLLS, "01A") == NOW + 60_000
    assert redis_client.zscore(POLLS, "01B") is None
    redis_client.hset(message_key("01C"), "state", "delivery_unknown")
    assert _take(polls, NOW + 10_000) == []
    assert redis_client.zscore(POLLS, "01C") is None
    assert polls.waiting("gosms") == 1
