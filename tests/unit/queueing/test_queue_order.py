"""The queue order of each fetch: priority first, with a share for the lower queues. Pure."""

from __future__ import annotations

import collections
import itertools

from dispatcher.queueing.queue_order import PriorityShareCycle

SHARES = {"sms.high": 8, "sms.normal": 3, "sms.bulk": 1}


def test_high_leads_most_fetches_and_lower_queues_get_their_share() -> None:
    cycle = PriorityShareCycle(shares=SHARES)
    cycle.update({"sms.bulk", "sms.normal", "sms.high"})  # kombu hands over a set
    leads = collections.Counter(cycle.consume(3)[0] for _ in range(1200))
    assert leads == {"sms.high": 800, "sms.normal": 300, "sms.bulk": 100}


def test_every_fetch_lists_all_queues_with_the_rest_in_priority_order() -> None:
    cycle = PriorityShareCycle(["sms.bulk", "sms.high", "sms.normal"], shares=SHARES)
    orders = {tuple(cycle.consume(3)) for _ in range(12)}
    assert orders == {
        ("sms.high", "sms.normal", "sms.bulk"),
        ("sms.normal", "sms.high", "sms.bulk"),
        ("sms.bulk", "sms.high", "sms.normal"),
    }


def test_bulk_never_leads_twice_in_a_row_while_high_waits() -> None:
    cycle = PriorityShareCycle(["sms.high", "sms.bulk"], shares=SHARES)
    leads = [cycle.consume(2)[0] for _ in range(90)]
    assert leads.count("sms.bulk") == 10
    assert all(not (a == b == "sms.bulk") for a, b in itertools.pairwise(leads))


def test_one_queue_and_no_queues() -> None:
    cycle = PriorityShareCycle(shares=SHARES)
    assert cycle.consume(3) == []
    cycle.update(["sms.bulk"])
    assert cycle.consume(1) == ["sms.bulk"]
    assert cycle.rotate("sms.bulk") == "sms.bulk"


def test_the_workers_canary_queue_is_always_looked_at_first() -> None:
    cycle = PriorityShareCycle(shares=SHARES)
    cycle.update({"sms.bulk", "smsd.canary.host.42", "sms.high"})
    orders = [cycle.consume(3) for _ in range(9)]
    assert all(order[0] == "smsd.canary.host.42" for order in orders)
    assert {order[1] for order in orders} == {"sms.high", "sms.bulk"}
    assert PriorityShareCycle(["smsd.canary.x"], shares=SHARES).consume(1) == ["smsd.canary.x"]
