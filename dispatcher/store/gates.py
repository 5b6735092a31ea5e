"""Per-provider gates shared by every worker through Redis: circuit breaker, rate limit, 429 pause,
and the sliding window of recent attempts.

Lua scripts (``admit``, ``report_attempt``, ``report_successes``), one round trip each, atomic
across workers:

- ``admit`` before an attempt: is the provider paused after a 429, is its circuit open (after the
  cool-down it turns half-open and lets ``probes`` attempts through), and when may this message
  go under the provider's rate limit. The rate limit is GCRA (the generic cell rate algorithm):
  one timestamp per provider, the theoretical arrival time. Admission *reserves* the message's
  slot, so a message that must wait goes to the delay queue until its own slot instead of
  coming back to compete again. A slot further away than the caller can wait is not reserved.
- ``report_attempt`` after an attempt: counts it in the provider's window, moves the circuit (a
  run of failures, or a failure rate over the window, opens it; an account or path error opens it
  at once; a half-open probe closes it on success and opens it again on failure), and pauses the
  provider for every worker after a 429.

What counts as a failure for the circuit: :func:`dispatcher.core.circuit.circuit_class`.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from dispatcher.config.settings import ProviderSettings
from dispatcher.core.circuit import AdmissionVerdict, AttemptClass, CircuitState, rate_cost
from dispatcher.core.clock import now_ms as wall_clock_ms
from dispatcher.core.latency import LATENCY_BUCKETS_MS, bucket_index
from dispatcher.core.provider_health import WindowStats
from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.lua_scripts import register_script
from dispatcher.store.redis_keys import (
    METRICS,
    circuit_key,
    hour_key,
    pause_key,
    rate_key,
    window_key,
)

__all__ = ["WINDOW_SLOTS", "Admission", "CircuitMove", "GateView", "ProviderGates"]

WINDOW_SLOTS = 6  # the window is kept as this many buckets (window_slots_lib.lua says the same)


@dataclass
class _Successes:
    """Successes on a closed circuit counted in this process since the last flush."""

    attempts: int = 0
    latency_ms_sum: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, other: _Successes) -> None:
        self.attempts += other.attempts
        self.latency_ms_sum += other.latency_ms_sum
        for outcome, count in other.outcomes.items():
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + count
        for bucket, count in other.buckets.items():
            self.buckets[bucket] = self.buckets.get(bucket, 0) + count


@dataclass(frozen=True, slots=True)
class CircuitMove:
    """A circuit's state before and after an attempt was reported, and why it opened."""

    before: CircuitState
    after: CircuitState
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer of ``admit``: go at ``at_ms`` (now or a reserved slot), or look again then."""

    verdict: AdmissionVerdict
    at_ms: int
    probe: bool = False
    turned_half_open: bool = False

    @property
    def go(self) -> bool:
        return self.verdict is AdmissionVerdict.GO


@dataclass(frozen=True, slots=True)
class GateView:
    """What ``smsdispatch providers`` shows of one provider's gates."""

    name: str
    circuit: CircuitState
    circuit_since_ms: int | None
    open_until_ms: int | None
    circuit_reason: str
    failures_in_a_row: int
    paused_until_ms: int | None
    rate_backlog_ms: int  # how far ahead the rate limit has handed out slots
    window: WindowStats

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "circuit": self.circuit.value,
            "circuit_since_ms": self.circuit_since_ms,
            "open_until_ms": self.open_until_ms,
            "circuit_reason": self.circuit_reason,
            "failures_in_a_row": self.failures_in_a_row,
            "paused_until_ms": self.paused_until_ms,
            "rate_backlog_ms": self.rate_backlog_ms,
            "window": {
                "calls": self.window.calls,
                "failures": self.window.failures,
                "failure_rate": round(self.window.failure_rate, 4),
                "mean_latency_ms": round(self.window.mean_latency_ms, 1),
                "p50_ms": _rounded(self.window.latency_percentile_ms(0.5)),
                "p95_ms": _rounded(self.window.latency_percentile_ms(0.95)),
            },
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _int_or_none(value: Any) -> int | None:
    return int(float(value)) if value not in (None, b"", "") else None


class ProviderGates:
    """The gates of every provider, on one Redis client (thread-safe: redis-py pools)."""

    def __init__(
        self,
        client: redis.Redis,
        settings: dict[str, ProviderSettings],
        *,
        fast_path_ms: int = 0,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self._redis = client
        self._settings = settings
        self._admit = register_script(client, "admit")
        self._report = register_script(client, "report_attempt")
        self._report_successes = register_script(client, "report_successes")
        # The fast path (off with 0): a provider without a rate limit that Redis just admitted
        # with a closed circuit is admitted without asking again for this long, and successes
        # that were no half-open probe are counted here and written by flush() instead of one
        # by one. Failures are reported at once, after the successes counted before them.
        self._fast_path_ms = fast_path_ms
        self._clock_ms = clock_ms
        self._closed_until_ms: dict[str, int] = {}
        self._successes: dict[str, _Successes] = {}
        self._lock = threading.Lock()

    @translates_redis_errors
    def admit(
        self,
        provider: str,
        *,
        now_ms: int,
        segments: int,
        max_wait_ms: int,
        holds_slot: bool,
        probe_window_ms: int,
        counts_segments: bool,
    ) -> Admission:
        """Ask whether an attempt on ``provider`` may go, reserving its rate-limit slot."""
        cfg = self._settings[provider]
        interval_ms = 1000.0 / cfg.rate_limit if cfg.rate_limit else 0.0
        fast = self._fast_path_ms > 0 and interval_ms == 0.0
        if fast and now_ms < self._closed_until_ms.get(provider, 0):
            return Admission(AdmissionVerdict.GO, now_ms)
        cost = rate_cost(segments, counts_segments=counts_segments)
        raw = self._admit(
            keys=[circuit_key(provider), rate_key(provider), pause_key(provider), METRICS],
            args=[
                now_ms,
                cfg.circuit.probes,
                probe_window_ms,
                f"{interval_ms:.6f}",
                cfg.burst,
                cost,
                max(0, max_wait_ms),
                1 if holds_slot else 0,
                provider,
            ],
        )
        verdict, at_ms, probe, turned = raw
        admission = Admission(
            AdmissionVerdict(_text(verdict)),
            int(at_ms),
            probe=bool(int(probe)),
            turned_half_open=bool(int(turned)),
        )
        if fast and admission.go and not admission.probe:
            self._closed_until_ms[provider] = now_ms + self._fast_path_ms
        else:
            self._closed_until_ms.pop(provider, None)
        return admission

    @translates_redis_errors
    def report(
        self,
        provider: str,
        *,
        now_ms: int,
        attempt_class: AttemptClass,
        latency_ms: int,
        probe: bool,
        reason: str,
        retry_after_s: float | None,
        outcome: str = "accepted",
    ) -> CircuitMove:
        """Count an attempt (its ``outcome`` class, its latency) and move the circuit; returns the
        circuit's state before and after."""
        cfg = self._settings[provider]
        if self._fast_path_ms > 0 and attempt_class is AttemptClass.SUCCESS and not probe:
            self._count_success(provider, outcome, latency_ms)
            return CircuitMove(CircuitState.CLOSED, CircuitState.CLOSED)
        self.flush(provider)  # the successes before this attempt count first, in order
        # A failure, a probe or a 429 (which pauses the provider): ask Redis again next time.
        self._closed_until_ms.pop(provider, None)
        pause_s = retry_after_s if retry_after_s and retry_after_s > 0 else cfg.pause_after_429_s
        raw = self._report(
            keys=[
                circuit_key(provider),
                window_key(provider),
                pause_key(provider),
                METRICS,
                hour_key(provider),
            ],
            args=[
                now_ms,
                attempt_class.value,
                max(0, latency_ms),
                1 if probe else 0,
                cfg.circuit.failures_in_a_row,
                cfg.circuit.failure_rate,
                cfg.circuit.min_calls,
                cfg.circuit.window_s * 1000,
                int(cfg.circuit.cool_down_s * 1000),
                max(1, math.ceil(pause_s * 1000)),
                reason[:200],
                provider,
                outcome,
                bucket_index(latency_ms),
            ],
        )
        before, after, why = (_text(v) for v in raw)
        return CircuitMove(CircuitState(before), CircuitState(after), why)

    def _count_success(self, provider: str, outcome: str, latency_ms: int) -> None:
        latency_ms = max(0, latency_ms)
        one = _Successes(1, latency_ms, {outcome: 1}, {bucket_index(latency_ms): 1})
        with self._lock:
            self._successes.setdefault(provider, _Successes()).add(one)

    @translates_redis_errors
    def flush(self, provider: str | None = None) -> int:
        """Write the successes counted here since the last flush (of one provider, or of all)
        to Redis; returns how many. Nothing counted is lost when Redis fails: it is kept for the
        next flush."""
        with self._lock:
            names = [provider] if provider is not None else list(self._successes)
            taken = {n: self._successes.pop(n) for n in names if n in self._successes}
        written = 0
        for name, counted in taken.items():
            args: list[Any] = [
                self._clock_ms(),
                self._settings[name].circuit.window_s * 1000,
                name,
                counted.attempts,
                counted.latency_ms_sum,
            ]
            for outcome, count in counted.outcomes.items():
                args += [outcome, count]
            args.append("|")
            for bucket, count in counted.buckets.items():
                args += [bucket, count]
            try:
                self._report_successes(
                    keys=[circuit_key(name), window_key(name), METRICS, hour_key(name)], args=args
                )
            except redis.RedisError:
                with self._lock:  # back in, with whatever was counted meanwhile
                    self._successes.setdefault(name, _Successes()).add(counted)
                raise
            written += counted.attempts
        return written

    @translates_redis_errors
    def windows(self, providers: Iterable[str], *, now_ms: int) -> dict[str, WindowStats]:
        """The recent-attempt window of each provider, in one round trip."""
        names = list(providers)
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(window_key(name))
        return {
            name: _window(raw, self._settings[name].circuit.window_s * 1000, now_ms)
            for name, raw in zip(names, pipe.execute(), strict=True)
        }

    @translates_redis_errors
    def views(self, providers: Iterable[str], *, now_ms: int) -> list[GateView]:
        """Circuit, pause, rate backlog and window of each provider, in one round trip."""
        names = list(providers)
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.hgetall(circuit_key(name))
            pipe.pttl(pause_key(name))
            pipe.get(rate_key(name))
            pipe.hgetall(window_key(name))
        raw = pipe.execute()
        views = []
        for i, name in enumerate(names):
            circuit, pause_ms, tat, window = raw[4 * i : 4 * i + 4]
            fields = {_text(k): _text(v) for k, v in circuit.items()}
            state = CircuitState(fields.get("state") or "closed")
            views.append(
                GateView(
                    name=name,
                    circuit=state,
                    circuit_since_ms=_int_or_none(fields.get("since_ms")),
                    open_until_ms=(
                        _int_or_none(fields.get("open_until_ms"))
                        if state is CircuitState.OPEN
                        else None
                    ),
                    circuit_reason=fields.get("reason", "")
                    if state is not CircuitState.CLOSED
                    else "",
                    failures_in_a_row=int(fields.get("run") or 0),
                    paused_until_ms=now_ms + int(pause_ms) if int(pause_ms) > 0 else None,
                    rate_backlog_ms=max(0, int(float(tat)) - now_ms) if tat else 0,
                    window=_window(window, self._settings[name].circuit.window_s * 1000, now_ms),
                )
            )
        return views


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _window(raw: dict[Any, Any], window_ms: int, now_ms: int) -> WindowStats:
    """Sum the buckets of a window hash that are still inside the window."""
    fields = {_text(k): int(float(_text(v))) for k, v in raw.items()}
    bucket = now_ms // max(1, window_ms // WINDOW_SLOTS)
    calls = failures = latency = 0
    counts = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for slot in range(WINDOW_SLOTS):
        if fields.get(f"b{slot}", -1) > bucket - WINDOW_SLOTS:
            calls += fields.get(f"n{slot}", 0)
            failures += fields.get(f"f{slot}", 0)
            latency += fields.get(f"l{slot}", 0)
            for index in range(len(counts)):
                counts[index] += fields.get(f"h{slot}_{index}", 0)
    return WindowStats(
        calls=calls, failures=failures, latency_ms_sum=latency, latency_counts=tuple(counts)
    )
