"""The status store on a real Redis: atomic create, claim and finish."""

from __future__ import annotations

from typing import Any, Literal

import redis

from dispatcher.core.message_record import Attempt, MessageRecord
from dispatcher.core.states import MessageState
from dispatcher.errors import StoreError, StoreUnavailableError
from dispatcher.store.backlog import backlog
from dispatcher.store.messages import ClaimStatus, Finish, MessageStore
from dispatcher.store.redis_keys import (
    AWAITING_REPORTS,
    message_key,
    ready_list_key,
    ready_moved_key,
)
from dispatcher.store.report_deadlines import ReportDeadlines
from tests.conftest import end_lease
from tests.message_records import a_record

NOW = 1_764_000_000_000


def record(
    message_id: str = "01TEST", *, key: str | None = None, body: str = "hi"
) -> MessageRecord:
    return a_record(message_id, at_ms=NOW, body=body, idempotency_key=key, fingerprint=f"fp:{body}")


def test_create_then_get(redis_client: redis.Redis) -> None:
    """A created record reads back the same, with a TTL of validity + retention."""
    store = MessageStore(redis_client, retention_s=100)
    assert store.create(record(), idempotency_ttl_s=60, now_ms=NOW).created
    found = store.get("01TEST")
    assert found is not None
    assert found[0] == record()
    assert found[1] == []
    assert 100 < redis_client.ttl(message_key("01TEST")) <= 160


def test_a_smart_encoded_record_reads_back_smart_encoded(redis_client: redis.Redis) -> None:
    """smart_encoded is kept in the hash when set (and left out when not); either reads back."""
    store = MessageStore(redis_client, retention_s=100)
    smart = a_record("01SMART", at_ms=NOW, body="It's ready - go", smart_encoded=True)
    store.create(smart, idempotency_ttl_s=60, now_ms=NOW)
    store.create(record("01PLAIN"), idempotency_ttl_s=60, now_ms=NOW)
    assert redis_client.hget(message_key("01SMART"), "smart_encoded") == "1"
    assert not redis_client.hexists(message_key("01PLAIN"), "smart_encoded")
    found, plain = store.get("01SMART"), store.get("01PLAIN")
    assert found is not None
    assert plain is not None
    assert found[0] == smart
    assert found[0].public_view(found[1])["smart_encoded"] is True
    assert plain[0].public_view(plain[1])["smart_encoded"] is False


def test_idempotency_key_returns_the_first_message(redis_client: redis.Redis) -> None:
    """The same key gives the first id back; different content under it is flagged."""
    store = MessageStore(redis_client, retention_s=100)
    store.create(record("01A", key="k"), idempotency_ttl_s=60, now_ms=NOW)
    again = store.create(record("01B", key="k"), idempotency_ttl_s=60, now_ms=NOW)
    assert (again.created, again.message_id, again.same_content) == (False, "01A", True)
    other = store.create(record("01C", key="k", body="changed"), idempotency_ttl_s=60, now_ms=NOW)
    assert (other.created, other.message_id, other.same_content) == (False, "01A", False)
    assert store.get("01B") is None
    assert store.get("01C") is None


def test_claim_is_exclusive_and_final_states_are_not_sent(redis_client: redis.Redis) -> None:
    """One claim holds the lease; a second is busy; after acceptance a claim says done."""
    store = MessageStore(redis_client, retention_s=100)
    store.create(record(), idempotency_ttl_s=60, now_ms=NOW)
    first = store.claim("01TEST", lease_ms=10_000, now_ms=NOW)
    assert first.status == "claimed"
    assert first.previous_state is MessageState.QUEUED
    assert store.claim("01TEST", lease_ms=10_000, now_ms=NOW).status == "busy"
    attempt = Attempt(
        number=1,
        provider="sinch",
        started_at_ms=NOW,
        latency_ms=3,
        outcome="accepted",
        http_status=201,
        provider_message_id="B1",
    )
    assert store.finish(first, attempt=attempt, changes={"state": "accepted"}, now_ms=NOW)
    assert redis_client.hget(message_key("01TEST"), "lease_until_ms") == "0"
    later = store.claim("01TEST", lease_ms=10_000, now_ms=NOW)
    assert (later.status, later.previous_state) == ("done", MessageState.ACCEPTED)
    found = store.get("01TEST")
    assert found is not None
    assert found[0].attempt_count == 1
    assert found[1] == [attempt]


def test_claim_after_a_dead_sender_reports_sending(redis_client: redis.Redis) -> None:
    """When a lease expired mid-send, the next claim sees state `sending` (a possible duplicate)."""
    store = MessageStore(redis_client, retention_s=100)
    store.create(record(), idempotency_ttl_s=60, now_ms=NOW)
    store.claim("01TEST", lease_ms=10_000, now_ms=NOW)
    end_lease(redis_client, "01TEST")  # the lease ran out
    again = store.claim("01TEST", lease_ms=10_000, now_ms=NOW)
    assert (again.status, again.previous_state) == ("claimed", MessageState.SENDING)


def test_finish_with_a_lost_lease_keeps_the_holders_state(redis_client: redis.Redis) -> None:
    """A sender whose lease went to another records its attempt but does not move the state."""
    store = MessageStore(redis_client, retention_s=100)
    store.create(record(), idempotency_ttl_s=60, now_ms=NOW)
    stale = store.claim("01TEST", lease_ms=10_000, now_ms=NOW)
    end_lease(redis_client, "01TEST")
    store.claim("01TEST", lease_ms=10_000, now_ms=NOW)
    attempt = Attempt(
        number=1, provider="sinch", started_at_ms=NOW, latency_ms=1, outcome="rejected"
    )
    assert not store.finish(stale, attempt=attempt, changes={"state": "failed"}, now_ms=NOW)
    found = store.get("01TEST")
    assert found is not None
    assert found[0].state is MessageState.SENDING
    assert len(found[1]) == 1


def test_the_last_claim_owns_the_outcome_even_after_both_leases_ran_out(
    redis_client: redis.Redis,
) -> None:
    """Two senders whose leases both ran out: the stale one's answer is kept as an attempt but
    cannot end the message; the newer one's can, with its possible_duplicate flag."""
    store = MessageStore(redis_client, retention_s=100)
    store.create(record(), idempotency_ttl_s=60, now_ms=NOW)
    stale = store.claim("01TEST", lease_ms=10_000, now_ms=NOW)
    end_lease(redis_client, "01TEST")
    newer = store.claim("01TEST", lease_ms=10_000, now_ms=NOW)
    end_lease(redis_client, "01TEST")  # the newer lease ran out too; nobody claimed since
    first = Attempt(number=1, provider="sinch", started_at_ms=NOW, latency_ms=1, outcome="accepted")
    second = Attempt(
        number=2,
        provider="sinch",
        started_at_ms=NOW,
        latency_ms=1,
        outcome="accepted",
        possible_duplicate=True,
    )
    assert not store.finish(stale, attempt=first, changes={"state": "accepted"}, now_ms=NOW)
    assert store.get("01TEST")[0].state is MessageState.SENDING  # type: ignore[index]
    changes = {"state": "accepted", "possible_duplicate": "1"}
    assert store.finish(newer, attempt=second, changes=changes, now_ms=NOW)
    found = store.get("01TEST")
    assert found is not None
    assert (found[0].state, found[0].possible_duplicate) == (MessageState.ACCEPTED, True)
    assert len(found[1]) == 2


def test_one_hash_holds_the_record_its_lease_and_its_attempts(redis_client: redis.Redis) -> None:
    """The record is the message's only key: attempts are fields in order, the lease is two
    fields, and a dead letter keeps them all with the record (no expiry)."""
    store = MessageStore(redis_client, retention_s=100)
    store.create(record(), idempotency_ttl_s=60, now_ms=NOW)
    steps: list[tuple[str, Literal["retry", "dead_letter"], str]] = [
        ("retryable", "retry", "retry_scheduled"),
        ("rejected", "dead_letter", "failed"),
    ]
    for number, (outcome, action, state) in enumerate(steps, 1):
        if number == 2:
            redis_client.hset(message_key("01TEST"), "next_attempt_at_ms", NOW)
        claim = store.claim("01TEST", lease_ms=10_000, now_ms=NOW)
        assert claim.status == "claimed"
        lease = redis_client.hmget(message_key("01TEST"), "claim", "lease_until_ms")
        assert lease == [claim.token, str(NOW + 10_000)]
        attempt = Attempt(
            number=number, provider="sinch", started_at_ms=NOW, latency_ms=1, outcome=outcome
        )
        changes = {"state": state}
        assert store.finish(
            claim, attempt=attempt, changes=changes, now_ms=NOW, action=action, score_ms=NOW
        )
    assert [k for k in redis_client.keys("smsd:*") if "01TEST" in k] == [message_key("01TEST")]
    found = store.get("01TEST")
    assert found is not None
    assert [a.outcome for a in found[1]] == ["retryable", "rejected"]
    assert found[0].attempt_count == 2
    assert redis_client.hget(message_key("01TEST"), "lease_until_ms") == "0"
    assert redis_client.ttl(message_key("01TEST")) == -1  # a dead letter is kept
    assert redis_client.zscore("smsd:dead", "01TEST") == NOW


def test_a_finish_for_a_record_that_is_gone_writes_nothing(redis_client: redis.Redis) -> None:
    store = MessageStore(redis_client, retention_s=100)
    store.create(record(), idempotency_ttl_s=60, now_ms=NOW)
    claim = store.claim("01TEST", lease_ms=10_000, now_ms=NOW)
    redis_client.delete(message_key("01TEST"))
    attempt = Attempt(
        number=1, provider="sinch", started_at_ms=NOW, latency_ms=1, outcome="accepted"
    )
    assert not store.finish(claim, attempt=attempt, changes={"state": "accepted"}, now_ms=NOW)
    assert redis_client.exists(message_key("01TEST")) == 0


def test_many_finishes_in_one_round_trip(redis_client: redis.Redis) -> None:
    """finish_many records each message as finish would, loads its script when the server does
    not know it (first use, or a restart), and answers per message: kept, lease lost, or the
    error that message's script met."""
    store = MessageStore(redis_client, retention_s=100)
    ids = ["01A", "01B", "01C", "01D"]
    for message_id in ids:
        store.create(record(message_id), idempotency_ttl_s=60, now_ms=NOW)
    claims = [store.claim(message_id, lease_ms=10_000, now_ms=NOW) for message_id in ids]
    end_lease(redis_client, "01B")
    store.claim("01B", lease_ms=10_000, now_ms=NOW)  # 01B's first claim lost its lease
    redis_client.delete(message_key("01D"))
    redis_client.set(message_key("01D"), "not a hash")  # its script fails
    redis_client.script_flush()
    attempt = Attempt(
        number=1, provider="sinch", started_at_ms=NOW, latency_ms=1, outcome="accepted"
    )
    finishes = [Finish(c, attempt, {"state": "accepted"}, NOW) for c in claims]
    results = store.finish_many(finishes)
    assert results[:3] == [True, False, True]
    assert isinstance(results[3], StoreError)
    assert not isinstance(results[3], StoreUnavailableError)
    assert results[3].error == "ResponseError"
    for message_id, state in (("01A", "accepted"), ("01B", "sending"), ("01C", "accepted")):
        found = store.get(message_id)
        assert found is not None
        assert (found[0].state.value, len(found[1])) == (state, 1)
    assert redis_client.zcard("smsd:pending") == 2  # 01B's new sender and the failed 01D

    # One finish alone takes a plain call, with the same answers.
    store.create(record("01E"), idempotency_ttl_s=60, now_ms=NOW)
    alone = store.claim("01E", lease_ms=10_000, now_ms=NOW)
    assert store.finish_many([Finish(alone, attempt, {"state": "accepted"}, NOW)]) == [True]
    (failed,) = store.finish_many([finishes[3]])
    assert isinstance(failed, StoreError)
    assert failed.error == "ResponseError"


def test_sends_in_flight_are_the_claimed_entries_of_the_pending_index(
    redis_client: redis.Redis,
) -> None:
    """Messages waiting for a sender and sends under a lease share smsd:pending; the backlog
    counts only the second as in flight, and a recorded send leaves the index."""
    store = MessageStore(redis_client, retention_s=100)
    for message_id in ("01A", "01B", "01C"):
        store.create(record(message_id), idempotency_ttl_s=60, now_ms=NOW)
    claims = [store.claim(m, lease_ms=10_000, now_ms=NOW) for m in ("01A", "01B")]
    assert backlog(redis_client)["in_flight"] == 2
    assert redis_client.zcard("smsd:pending") == 3
    store.finish(claims[0], attempt=None, changes={"state": "accepted"}, now_ms=NOW)
    assert backlog(redis_client)["in_flight"] == 1
    assert redis_client.zscore("smsd:pending", "01C") == NOW  # still waiting for a sender


def test_missing_message(redis_client: redis.Redis) -> None:
    """A job for an unknown id is reported as missing."""
    store = MessageStore(redis_client, retention_s=100)
    assert store.claim("nope", lease_ms=1000, now_ms=NOW).status == "missing"


def test_delivery_reports_apply_once_and_only_to_accepted_messages(
    redis_client: redis.Redis,
) -> None:
    """queued: not yet (the provider sends it again); accepted: applied once, counted, a
    callback queued; a dead letter keeps its state but shows what the provider said."""
    store = MessageStore(redis_client, retention_s=100)
    store.create(record("01Q"), idempotency_ttl_s=60, now_ms=NOW)
    redis_client.hset(message_key("01Q"), "callback_url", "http://127.0.0.1:9/cb")

    def apply(message_id: str, state: str = "delivered") -> str:
        return store.apply_report(
            message_id,
            provider="sinch",
            state=state,
            provider_status="DELIVRD",
            reason="",
            now_ms=NOW + 5,
        )

    assert apply("01Q") == "not_accepted"
    redis_client.hset(message_key("01Q"), "state", "accepted")
    assert apply("01Q", "pending") == "pending"
    assert apply("01Q") == "applied"
    assert apply("01Q") == "same"
    assert apply("01Q", "undelivered") == "final"
    assert redis_client.hget(message_key("01Q"), "state") == "delivered"
    assert redis_client.zrange("smsd:callbacks", 0, -1) == ["01Q|delivered"]
    assert redis_client.hget("smsd:metrics", "messages|delivered") == "1"
    assert apply("01NOPE") == "missing"
    assert backlog(redis_client)["awaiting_reports"] == 0  # not added by the report

    store.create(record("01D"), idempotency_ttl_s=60, now_ms=NOW)
    redis_client.hset(message_key("01D"), "state", "failed")
    assert apply("01D") == "final"
    found = store.get("01D")
    assert found is not None
    assert (found[0].state, found[0].report_status) == (MessageState.FAILED, "DELIVRD")


READY_JOB = "job of SMSDQUEUE as SMSDTASKID for SMSDMSGID"  # a template's three markers


def test_ready_list_gets_a_job_only_when_its_message_is_alone(redis_client: redis.Redis) -> None:
    """The first message onto an empty ready list brings one job for the list; the ones after
    it only join; an idempotent repeat neither joins nor brings a job."""
    store = MessageStore(redis_client, retention_s=100)
    for message_id in ("01R1", "01R2", "01R3"):
        created = store.create(
            record(message_id, key=f"k-{message_id}"),
            idempotency_ttl_s=60,
            now_ms=NOW,
            queue="sms.normal",
            ready_template=READY_JOB,
        )
        assert created.created
    again = store.create(
        record("01R4", key="k-01R1"),
        idempotency_ttl_s=60,
        now_ms=NOW,
        queue="sms.normal",
        ready_template=READY_JOB,
    )
    assert not again.created
    assert redis_client.lrange("sms.normal", 0, -1) == [
        "job of sms.normal as 01R1.c for sms.normal"
    ]
    assert redis_client.lrange(ready_list_key("sms.normal"), 0, -1) == ["01R1", "01R2", "01R3"]


def test_take_ready_claims_the_head_and_queues_the_next_job(redis_client: redis.Redis) -> None:
    """A take claims up to its count from the head, oldest first, in one step that queues the
    list's next job when messages are left (and only then); a take from an empty list takes
    nothing and queues nothing."""
    store = MessageStore(redis_client, retention_s=100)
    ids = [f"01T{i}" for i in range(3)]
    store.create_many(
        [(record(message_id), "") for message_id in ids],
        idempotency_ttl_s=60,
        now_ms=NOW,
        queue="sms.normal",
        ready_template=READY_JOB,
    )
    redis_client.delete("sms.normal")
    first = store.take_ready(
        "sms.normal", count=2, lease_ms=30_000, now_ms=NOW + 5, ready_template=READY_JOB
    )
    assert [message_id for message_id, _ in first] == ids[:2]
    assert all(claim.status is ClaimStatus.CLAIMED for _, claim in first)
    assert len({claim.token for _, claim in first}) == 2
    assert redis_client.lrange("sms.normal", 0, -1) == [
        "job of sms.normal as 01T0.n for sms.normal"
    ]
    assert redis_client.get(ready_moved_key("sms.normal")) == str(NOW + 5)
    for message_id, claim in first:
        assert redis_client.hget(message_key(message_id), "state") == "sending"
        assert redis_client.hget(message_key(message_id), "claim") == claim.token
    redis_client.delete("sms.normal")
    (last,) = store.take_ready(
        "sms.normal", count=50, lease_ms=30_000, now_ms=NOW + 6, ready_template=READY_JOB
    )
    assert last[0] == ids[2]
    assert redis_client.llen("sms.normal") == 0
    assert (
        store.take_ready(
            "sms.normal", count=50, lease_ms=30_000, now_ms=NOW + 7, ready_template=READY_JOB
        )
        == []
    )
    assert redis_client.llen("sms.normal") == 0


def test_take_ready_skips_what_is_not_to_be_sent(redis_client: redis.Redis) -> None:
    """An id in the list whose message was sent meanwhile (by a job of its own) is taken off
    the list without a new claim."""
    store = MessageStore(redis_client, retention_s=100)
    store.create(
        record("01S1"), idempotency_ttl_s=60, now_ms=NOW, queue="sms.normal", ready_template="x"
    )
    redis_client.hset(message_key("01S1"), "state", "accepted")
    ((message_id, claim),) = store.take_ready(
        "sms.normal", count=50, lease_ms=30_000, now_ms=NOW, ready_template="x"
    )
    assert message_id == "01S1"
    assert claim.status is ClaimStatus.DONE
    assert redis_client.hget(message_key("01S1"), "state") == "accepted"


def accepted(
    store: MessageStore,
    message_id: str,
    *,
    provider: str = "sinch",
    at_ms: int = NOW,
    changes: dict[str, str] | None = None,
    **finish: Any,
) -> None:
    """``message_id`` created and claimed at NOW, then recorded accepted by ``provider`` at
    ``at_ms``, with ``changes`` to its fields and ``finish``'s other parts of the Finish."""
    store.create(record(message_id), idempotency_ttl_s=60, now_ms=NOW)
    claim = store.claim(message_id, lease_ms=10_000, now_ms=NOW)
    attempt = Attempt(
        number=1, provider=provider, started_at_ms=NOW, latency_ms=1, outcome="accepted"
    )
    fields = {"state": "accepted", **(changes or {})}
    assert store.apply_finish(Finish(claim, attempt, fields, now_ms=at_ms, **finish))


def _accepted(store: MessageStore, message_id: str, *, report_due_ms: int) -> None:
    """``message_id`` created, claimed and recorded accepted, its report due by then."""
    accepted(store, message_id, reached_state="accepted", report_due_ms=report_due_ms)


def test_an_accepted_message_without_a_report_ends_delivery_unknown(
    redis_client: redis.Redis,
) -> None:
    """Accepted, it waits for its report until its wait ends; then it ends delivery_unknown
    (counted, a callback queued), once; a report that comes later still applies."""
    store = MessageStore(redis_client, retention_s=100)
    deadlines = ReportDeadlines(redis_client)
    _accepted(store, "01U", report_due_ms=NOW + 1_000)
    redis_client.hset(message_key("01U"), "callback_url", "http://127.0.0.1:9/cb")
    assert redis_client.zscore(AWAITING_REPORTS, "01U") == NOW + 1_000
    assert backlog(redis_client)["awaiting_reports"] == 1
    assert deadlines.end_overdue(now_ms=NOW + 999, batch_size=10) == 0
    assert redis_client.hget(message_key("01U"), "state") == "accepted"
    assert deadlines.end_overdue(now_ms=NOW + 1_000, batch_size=10) == 1
    assert redis_client.hget(message_key("01U"), "state") == "delivery_unknown"
    assert redis_client.hget("smsd:metrics", "messages|delivery_unknown") == "1"
    assert "01U|delivery_unknown" in redis_client.zrange("smsd:callbacks", 0, -1)
    assert deadlines.end_overdue(now_ms=NOW + 9_000, batch_size=10) == 0
    assert redis_client.zcard(AWAITING_REPORTS) == 0
    claim = store.claim("01U", lease_ms=10_000, now_ms=NOW + 9_000)
    assert claim.status is ClaimStatus.DONE  # nothing is sent again
    late = store.apply_report(
        "01U",
        provider="sinch",
        state="delivered",
        provider_status="DELIVRD",
        reason="",
        now_ms=NOW + 9_500,
    )
    assert late == "applied"
    assert redis_client.hget(message_key("01U"), "state") == "delivered"


def test_a_reported_message_leaves_the_wait(redis_client: redis.Redis) -> None:
    """A final report removes the message from those waiting, so its deadline ends nothing; a
    pending report keeps it waiting."""
    store = MessageStore(redis_client, retention_s=100)
    deadlines = ReportDeadlines(redis_client)
    _accepted(store, "01R", report_due_ms=NOW + 1_000)
    _accepted(store, "01P", report_due_ms=NOW + 1_000)
    for message_id, state in (("01R", "undelivered"), ("01P", "pending")):
        store.apply_report(
            message_id,
            provider="sinch",
            state=state,
            provider_status="X",
            reason="",
            now_ms=NOW + 10,
        )
    assert redis_client.zrange(AWAITING_REPORTS, 0, -1) == ["01P"]
    assert deadlines.end_overdue(now_ms=NOW + 2_000, batch_size=10) == 1
    assert redis_client.hget(message_key("01R"), "state") == "undelivered"
    assert redis_client.hget(message_key("01P"), "state") == "delivery_unknown"
