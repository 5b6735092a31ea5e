"""Opt-outs on real parts: refused at the door by the enqueue script, ended ``opted_out`` at the
claim by a real worker, never sent; the list kept by operators (Python API)."""

from __future__ import annotations

import pytest
import redis

from dispatcher.config.settings import OptOutSettings, Settings
from dispatcher.errors import InvalidMessage, OptedOut
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import METRICS, OPT_OUTS
from tests.conftest import RunningSimulator, WebApp, WorkerFactory, wait_for
from tests.integration.intake.test_end_to_end import final_status

NUMBER = "+14155552671"
OTHER = "+14155552672"


def scoped(settings: Settings, **rules: object) -> Dispatcher:
    return Dispatcher(settings.model_copy(update={"opt_out": OptOutSettings(**rules)}))


def test_an_opted_out_number_is_refused_at_the_door_and_nothing_is_kept(
    dispatcher: Dispatcher, redis_client: redis.Redis
) -> None:
    assert dispatcher.opt_outs.add(NUMBER)[0]
    keys_before = set(redis_client.keys("*"))
    with pytest.raises(OptedOut) as refused:
        dispatcher.send_sms(NUMBER, "Sale today", priority="bulk", idempotency_key="sale-1")
    assert "2671" in str(refused.value)
    assert "415555" not in str(refused.value)
    assert set(redis_client.keys("*")) == keys_before  # the metrics hash was there already
    assert redis_client.hget(METRICS, "refused|opted_out") == "1"
    # The refused message did not take its idempotency key: once the number opts back in,
    # the same key sends.
    assert dispatcher.opt_outs.remove(NUMBER)
    message_id = dispatcher.send_sms(
        NUMBER, "Sale today", priority="bulk", idempotency_key="sale-1"
    )
    assert dispatcher.get_status(message_id)["state"] == "queued"


def test_another_number_still_goes(dispatcher: Dispatcher) -> None:
    dispatcher.opt_outs.add(NUMBER)
    assert dispatcher.get_status(dispatcher.send_sms(OTHER, "hello"))["state"] == "queued"


def test_a_batch_refuses_the_opted_out_item_only(dispatcher: Dispatcher) -> None:
    dispatcher.opt_outs.add(NUMBER)
    results = dispatcher.send_bulk(
        [{"to": OTHER, "body": "a"}, {"to": NUMBER, "body": "b"}, {"to": OTHER, "body": "c"}]
    )
    assert [r.get("error", {}).get("code") for r in results] == [None, "opted_out", None]
    assert all(dispatcher.get_status(r["id"])["state"] == "queued" for r in results if "id" in r)


def test_transactional_messages_go_when_the_list_is_for_marketing_only(
    settings: Settings, redis_client: redis.Redis
) -> None:
    core = scoped(settings, applies_to_transactional=False)
    core.opt_outs.add(NUMBER)
    assert core.get_status(core.send_sms(NUMBER, "Your code is 1234"))["state"] == "queued"
    with pytest.raises(OptedOut):
        core.send_sms(NUMBER, "Sale today", category="marketing")
    # By default they are blocked too.
    with pytest.raises(OptedOut):
        scoped(settings).send_sms(NUMBER, "Your code is 1234")
    core.close()


def test_under_sender_scope_an_entry_blocks_its_sender_only(
    settings: Settings, redis_client: redis.Redis
) -> None:
    core = scoped(settings, scope="sender")
    core.opt_outs.add(NUMBER, "Acme")
    with pytest.raises(OptedOut):
        core.send_sms(NUMBER, "hi", sender="ACME")
    assert core.get_status(core.send_sms(NUMBER, "hi", sender="Other"))["state"] == "queued"
    core.opt_outs.add(NUMBER)  # an entry for every sender blocks them all
    with pytest.raises(OptedOut):
        core.send_sms(NUMBER, "hi", sender="Other")
    assert core.opt_outs.blocks(NUMBER, "Other")
    core.close()


def test_under_global_scope_an_entry_for_one_sender_is_refused(dispatcher: Dispatcher) -> None:
    with pytest.raises(InvalidMessage) as refused:
        dispatcher.opt_outs.add(NUMBER, "Acme")
    assert set(refused.value.fields) == {"sender"}
    with pytest.raises(InvalidMessage) as bad:
        dispatcher.opt_outs.add("not a number")
    assert set(bad.value.fields) == {"number"}


def test_import_puts_each_good_line_on_the_list_and_reports_the_bad_ones(
    dispatcher: Dispatcher, redis_client: redis.Redis
) -> None:
    dispatcher.opt_outs.add(OTHER)
    lines = ["# exported list", NUMBER, "", "+1415555267", OTHER, "+442079460000"]
    result = dispatcher.opt_outs.import_numbers(lines)
    assert (result.added, result.already, result.refused_count) == (2, 1, 1)
    assert result.refused[0]["line"] == 4
    assert redis_client.hlen(OPT_OUTS) == 3
    page = dispatcher.opt_outs.page(count=10)
    assert page["total"] == 3
    assert {e["number"] for e in page["opt_outs"]} == {NUMBER, OTHER, "+442079460000"}
    assert all(NUMBER not in field for field in redis_client.hkeys(OPT_OUTS))


def test_a_waiting_message_whose_number_opts_out_ends_opted_out_unsent(
    dispatcher: Dispatcher,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
    web_app: WebApp,
    redis_client: redis.Redis,
) -> None:
    """Queued before the opt-out, claimed after it: failed, reason opted_out, not sent, not a
    dead letter, its status callback posted; the other number's message is sent."""
    waiting = dispatcher.send_sms(NUMBER, "Sale today", callback_url=web_app.url)
    other = dispatcher.send_sms(OTHER, "Sale today")
    dispatcher.opt_outs.add(NUMBER)
    worker_factory()
    status = final_status(dispatcher, waiting)
    assert (status["state"], status["final_reason"]) == ("failed", "opted_out")
    assert status["attempt_count"] == 0
    assert final_status(dispatcher, other)["state"] == "accepted"
    assert [r.payload["to"] for r in simulator.state.requests] == [[OTHER]]
    assert redis_client.zscore("smsd:dead", waiting) is None
    wait_for(web_app.events)
    assert [(e["message_id"], e["state"]) for e in web_app.events()] == [(waiting, "failed")]
