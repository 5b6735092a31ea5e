"""Provider gates in a real Redis: circuit breaker, GCRA rate limit, 429 pause, recent window.

The scripts take the time as an argument, so these tests drive the clock themselves.
"""

from __future__ import annotations

import redis

from dispatcher.config.settings import ProviderSettings
from dispatcher.core.circuit import AttemptClass, CircuitState, circuit_class
from dispatcher.store.gates import ProviderGates
from dispatcher.store.redis_keys import METRICS, circuit_key, hour_key

T0 = 1_700_000_000_000


def gates(client: redis.Redis, **settings: object) -> ProviderGates:
    circuit = {
        "failures_in_a_row": 3,
        "cool_down_s": 10,
        "min_calls": 1000,
        **dict(settings.pop("circuit", {})),  # type: ignore[call-overload]
    }
    cfg = ProviderSettings.model_validate({"kind": "sinch", "circuit": circuit, **settings})
    return ProviderGates(client, {"p": cfg})


def admit(g: ProviderGates, now_ms: int, **options: object) -> object:
    defaults: dict[str, object] = {
        "segments": 1,
        "max_wait_ms": 60_000,
        "holds_slot": False,
        "probe_window_ms": 5_000,
        "counts_segments": False,
    }
    return g.admit("p", now_ms=now_ms, **{**defaults, **options})  # type: ignore[arg-type]


def report(
    g: ProviderGates, now_ms: int, klass: AttemptClass, **options: object
) -> tuple[CircuitState, CircuitState]:
    """The circuit's state before and after the report."""
    defaults: dict[str, object] = {
        "latency_ms": 50,
        "probe": False,
        "reason": "HTTP 503 retryable",
        "retry_after_s": None,
    }
    move = g.report("p", now_ms=now_ms, attempt_class=klass, **{**defaults, **options})  # type: ignore[arg-type]
    return move.before, move.after


def test_attempt_classes() -> None:
    assert circuit_class("accepted", 201) is AttemptClass.SUCCESS
    assert circuit_class("rejected", 400) is AttemptClass.SUCCESS  # the message's fault
    assert circuit_class("retryable", 503) is AttemptClass.FAILURE
    assert circuit_class("ambiguous", None) is AttemptClass.FAILURE
    assert circuit_class("provider_error", 401) is AttemptClass.TRIP
    assert circuit_class("retryable", 429) is AttemptClass.THROTTLED


def test_circuit_opens_after_a_run_of_failures_and_closes_after_a_probe(
    redis_client: redis.Redis,
) -> None:
    g = gates(redis_client)
    for i in range(2):
        assert report(g, T0 + i, AttemptClass.FAILURE) == (CircuitState.CLOSED,) * 2
    report(g, T0 + 5, AttemptClass.SUCCESS)  # a success breaks the run
    for i in range(2):
        report(g, T0 + 10 + i, AttemptClass.FAILURE)
    assert report(g, T0 + 20, AttemptClass.FAILURE) == (CircuitState.CLOSED, CircuitState.OPEN)
    shut = admit(g, T0 + 21)
    assert (shut.verdict, shut.at_ms) == ("open", T0 + 20 + 10_000)  # type: ignore[attr-defined]
    [view] = g.views(["p"], now_ms=T0 + 21)
    assert view.circuit is CircuitState.OPEN
    assert view.open_until_ms == T0 + 10_020
    assert "3 failures in a row" in view.circuit_reason

    probe = admit(g, T0 + 10_020)  # cool-down over: one probe goes
    assert (probe.verdict, probe.probe, probe.turned_half_open) == ("go", True, True)  # type: ignore[attr-defined]
    held = admit(g, T0 + 10_030)  # the others wait for the probe's answer
    assert (held.verdict, held.at_ms) == ("probing", T0 + 10_020 + 5_000)  # type: ignore[attr-defined]
    after = report(g, T0 + 10_100, AttemptClass.SUCCESS, probe=True)
    assert after == (CircuitState.HALF_OPEN, CircuitState.CLOSED)
    assert admit(g, T0 + 10_101).verdict == "go"  # type: ignore[attr-defined]


def test_failed_probe_opens_again_and_a_lost_probe_is_replaced(redis_client: redis.Redis) -> None:
    g = gates(redis_client)
    report(g, T0, AttemptClass.TRIP, reason="HTTP 401 provider_error")
    assert admit(g, T0 + 10_000).probe  # type: ignore[attr-defined]
    # The probe's sender died: after the probe window another probe may go.
    assert admit(g, T0 + 14_999).verdict == "probing"  # type: ignore[attr-defined]
    assert admit(g, T0 + 15_000).probe  # type: ignore[attr-defined]
    assert report(g, T0 + 15_100, AttemptClass.FAILURE, probe=True) == (
        CircuitState.HALF_OPEN,
        CircuitState.OPEN,
    )
    assert admit(g, T0 + 15_101).at_ms == T0 + 25_100  # type: ignore[attr-defined]


def test_account_error_opens_at_once(redis_client: redis.Redis) -> None:
    g = gates(redis_client)
    assert report(g, T0, AttemptClass.TRIP, reason="HTTP 401 provider_error") == (
        CircuitState.CLOSED,
        CircuitState.OPEN,
    )
    [view] = g.views(["p"], now_ms=T0)
    assert view.circuit_reason == "HTTP 401 provider_error"


def test_failure_rate_over_the_window_opens(redis_client: redis.Redis) -> None:
    """min_calls 10, rate 0.5: alternating success and failure opens at the 10th attempt."""
    g = gates(redis_client, circuit={"failures_in_a_row": 100, "min_calls": 10, "window_s": 60})
    states = []
    for i in range(10):
        klass = AttemptClass.FAILURE if i % 2 else AttemptClass.SUCCESS
        states.append(report(g, T0 + i * 100, klass)[1])
    assert states[:9] == [CircuitState.CLOSED] * 9
    assert states[9] is CircuitState.OPEN
    [view] = g.views(["p"], now_ms=T0 + 1000)
    assert "5 of 10 attempts failed" in view.circuit_reason
    # Attempts older than the window no longer count.
    assert g.windows(["p"], now_ms=T0 + 1000)["p"].calls == 10
    assert g.windows(["p"], now_ms=T0 + 130_000)["p"].calls == 0


def test_429_pauses_the_provider_without_counting_as_a_failure(redis_client: redis.Redis) -> None:
    import time

    g = gates(redis_client, pause_after_429_s=1.0)
    now = int(time.time() * 1000)
    for _ in range(5):
        assert report(g, now, AttemptClass.THROTTLED, retry_after_s=3) == (CircuitState.CLOSED,) * 2
    paused = admit(g, now)
    assert paused.verdict == "paused"  # type: ignore[attr-defined]
    assert now + 2_500 < paused.at_ms <= now + 3_100  # type: ignore[attr-defined]
    assert g.windows(["p"], now_ms=now)["p"].calls == 0
    redis_client.flushall()
    report(g, now, AttemptClass.THROTTLED)  # no Retry-After: the configured pause
    assert admit(g, now).at_ms <= now + 1_100  # type: ignore[attr-defined]


def test_rate_limit_hands_out_slots(redis_client: redis.Redis) -> None:
    """10/s with a burst of 2: two go at once, then one every 100 ms, each slot reserved once."""
    g = gates(redis_client, rate_limit=10, rate_burst=2)
    slots = [admit(g, T0).at_ms for _ in range(5)]  # type: ignore[attr-defined]
    assert slots == [T0, T0, T0 + 100, T0 + 200, T0 + 300]
    # A message holding its slot goes without taking another.
    assert admit(g, T0 + 300, holds_slot=True).at_ms == T0 + 300  # type: ignore[attr-defined]
    # A slot further than the message can wait is not reserved.
    far = admit(g, T0, max_wait_ms=350)
    assert (far.verdict, far.at_ms) == ("saturated", T0 + 400)  # type: ignore[attr-defined]
    assert admit(g, T0).at_ms == T0 + 400  # type: ignore[attr-defined]
    [view] = g.views(["p"], now_ms=T0)
    assert view.rate_backlog_ms == 600  # the theoretical arrival time runs 600 ms ahead


def test_rate_limit_counts_segments_where_the_provider_does(redis_client: redis.Redis) -> None:
    g = gates(redis_client, rate_limit=10, rate_burst=1)
    assert admit(g, T0, segments=3, counts_segments=True).at_ms == T0  # type: ignore[attr-defined]
    assert admit(g, T0).at_ms == T0 + 300  # type: ignore[attr-defined]  # the 3 parts' time
    assert admit(g, T0, segments=3).at_ms == T0 + 400  # type: ignore[attr-defined]  # 1 per message


def test_default_burst_is_a_tenth_of_a_second() -> None:
    assert ProviderSettings(kind="x", rate_limit=50).burst == 5
    assert ProviderSettings(kind="x", rate_limit=3).burst == 1
    assert ProviderSettings(kind="x", rate_limit=50, rate_burst=20).burst == 20


def test_counted_successes_add_up_to_the_same_as_reported_ones(redis_client: redis.Redis) -> None:
    """With the fast path, successes are counted in the worker and written by flush(): the
    window, metrics and last hour then hold what reporting each one would have written; a
    failure writes the successes before it first, so a run of failures starts from zero."""
    cfg = ProviderSettings.model_validate({"kind": "sinch", "circuit": {"failures_in_a_row": 2}})
    direct = ProviderGates(redis_client, {"p": cfg, "q": cfg})
    counted = ProviderGates(
        redis_client, {"p": cfg, "q": cfg}, fast_path_ms=100, clock_ms=lambda: T0
    )
    for latency in (5, 40, 700):
        for gate, provider in ((direct, "q"), (counted, "p")):
            gate.report(
                provider,
                now_ms=T0,
                attempt_class=AttemptClass.SUCCESS,
                latency_ms=latency,
                probe=False,
                reason="",
                retry_after_s=None,
                outcome="accepted",
            )
    assert counted.windows(["p"], now_ms=T0)["p"].calls == 0  # not written yet
    assert counted.flush() == 3
    assert counted.windows(["p"], now_ms=T0)["p"] == direct.windows(["q"], now_ms=T0)["q"]
    metrics = redis_client.hgetall(METRICS)
    for field in ("attempts|{}|accepted", "latency_ms_sum|{}"):
        assert metrics[field.format("p")] == metrics[field.format("q")]
    assert redis_client.hgetall(hour_key("p")) == redis_client.hgetall(hour_key("q"))

    redis_client.hset(circuit_key("p"), "run", 1)  # one failure before the successes below
    counted.report(
        "p",
        now_ms=T0,
        attempt_class=AttemptClass.SUCCESS,
        latency_ms=5,
        probe=False,
        reason="",
        retry_after_s=None,
    )
    move = counted.report(
        "p",
        now_ms=T0,
        attempt_class=AttemptClass.FAILURE,
        latency_ms=5,
        probe=False,
        reason="HTTP 503",
        retry_after_s=None,
        outcome="retryable",
    )
    assert move.after is CircuitState.CLOSED  # the success in between reset the run
    assert counted.windows(["p"], now_ms=T0)["p"].calls == 5
