"""A least-cost route on a real worker: each message goes to the provider cheapest for its
destination among those whose circuits admit it."""

from __future__ import annotations

import time

import redis

from dispatcher.config.settings import Settings
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.store.redis_keys import circuit_key
from tests.conftest import RunningSimulator, WorkerFactory
from tests.integration.intake.test_end_to_end import final_status

LEAST_COST = {
    "SMSD_ROUTES__DEFAULT": '["sinch", "twilio"]',
    "SMSD_ROUTES__STRATEGIES__DEFAULT": "least_cost",
    "SMSD_PRICES__SINCH__DEFAULT": "0.02",
    "SMSD_PRICES__SINCH__44": "0.03",
    "SMSD_PRICES__TWILIO__DEFAULT": "0.05",
    "SMSD_PRICES__TWILIO__1": "0.0075",
}


def test_each_destination_goes_cheapest_first_among_open_circuits(
    settings: Settings,
    dispatcher: Dispatcher,
    redis_client: redis.Redis,
    worker_factory: WorkerFactory,
    simulator: RunningSimulator,
) -> None:
    worker_factory(LEAST_COST)
    to_us = dispatcher.send_sms("+14155552671", "hello")
    to_uk = dispatcher.send_sms("+447400123456", "hello")
    assert final_status(dispatcher, to_us)["provider"] == "twilio"  # 0.0075 against 0.02
    assert final_status(dispatcher, to_uk)["provider"] == "sinch"  # 0.03 against 0.05
    # Twilio's circuit open: the cheapest provider it admits is Sinch.
    until = int(time.time() * 1000) + 600_000
    redis_client.hset(circuit_key("twilio"), mapping={"state": "open", "open_until_ms": until})
    time.sleep(0.3)  # past the worker's gate cache
    again = dispatcher.send_sms("+14155552672", "hello")
    status = final_status(dispatcher, again)
    assert status["provider"] == "sinch"
    assert [a["provider"] for a in status["attempts"]] == ["sinch"]  # type: ignore[attr-defined]
