"""Judging providers by what reached the phone: a weighted route between two providers, one of
which accepts every message and delivers none. Real worker, Redis and the simulator (GoSMS and
YellowPush, whose reports the worker looks up itself)."""

from __future__ import annotations

import collections
import json

from dispatcher.intake.enqueue import Dispatcher
from dispatcher.ops.metrics import ApiMetrics
from providers.simulator import ScriptedAnswer
from tests.conftest import RunningSimulator, WorkerFactory, wait_for
from tests.integration.delivery_reports.test_status_lookups import FAST_LOOKUPS
from tests.integration.routing.test_traffic import providers_cli

NUMBER = "+14155552671"
FINAL = ("delivered", "undelivered")


def _sent_through(simulator: RunningSimulator, after: int) -> collections.Counter[str]:
    return collections.Counter(r.provider for r in list(simulator.state.requests)[after:])


def test_traffic_moves_away_from_a_provider_that_accepts_but_does_not_deliver(
    worker_factory: WorkerFactory,
    dispatcher: Dispatcher,
    simulator: RunningSimulator,
    stack_env: dict[str, str],
) -> None:
    """50/50 between GoSMS and YellowPush; GoSMS takes every message and reports each one
    undelivered. Once 10 final reports each are in for +1, GoSMS's share for +1 is cut to its
    floor (0.05 of its weight), and `smsdispatch providers`, /metrics show why."""
    simulator.state.report_delay_ms = 0
    simulator.state.script(
        NUMBER, [ScriptedAnswer(success=True, report="failed", provider="gosms")], repeat_last=True
    )
    route = [{"provider": "gosms", "weight": 1}, {"provider": "yellowpush", "weight": 1}]
    env = {
        **FAST_LOOKUPS,
        "SMSD_ROUTES__DEFAULT": json.dumps(route),
        "SMSD_ROUTES__DELIVERY_MIN_REPORTS": "10",
        # 160 messages to look up: faster than the 5 a second a real GoSMS account takes.
        "SMSD_PROVIDERS__GOSMS__POLL_RATE_LIMIT": "100",
        "SMSD_PROVIDERS__YELLOWPUSH__POLL_RATE_LIMIT": "100",
    }
    worker_factory(env)
    first = [dispatcher.send_sms(NUMBER, f"first {i}") for i in range(60)]

    def all_final(ids: list[str]) -> bool:
        return all(dispatcher.get_status(m)["state"] in FINAL for m in ids)

    wait_for(lambda: all_final(first), timeout_s=30, interval_s=0.2)
    before = _sent_through(simulator, 0)
    assert before["gosms"] >= 15, before  # the draw split them about evenly
    assert before["yellowpush"] >= 15, before
    done = len(simulator.state.requests)
    second = [dispatcher.send_sms(NUMBER, f"second {i}") for i in range(100)]
    wait_for(lambda: all_final(second), timeout_s=30, interval_s=0.2)
    after = _sent_through(simulator, done)
    assert after["gosms"] <= 15, after  # about 5 of 100 at a factor of 0.05
    assert after["gosms"] + after["yellowpush"] == 100

    status = providers_cli({**stack_env, **env})
    by_name = {p["name"]: p for p in status["providers"]}
    assert by_name["gosms"]["delivery"]["1"]["delivery_rate"] == 0.0
    assert by_name["yellowpush"]["delivery"]["1"]["delivery_rate"] == 1.0
    assert by_name["yellowpush"]["delivery"]["1"]["report_p50_ms"] is not None
    [default] = [r for r in status["routes"] if r["route"] == "routes.default"]
    factors = {p["provider"]: p["delivery_factors"] for p in default["providers"]}
    assert factors == {"gosms": {"1": 0.05}, "yellowpush": {"1": 1.0}}
    metrics = ApiMetrics(dispatcher.store_client, ["gosms", "yellowpush"], 10.0).render().decode()
    assert 'smsdispatch_delivery_rate{country="1",provider="gosms"} 0.0' in metrics
    assert 'smsdispatch_delivery_rate{country="1",provider="yellowpush"} 1.0' in metrics
    assert (
        'smsdispatch_report_latency_seconds{country="1",provider="yellowpush",quantile="0.5"}'
        in (metrics)
    )
