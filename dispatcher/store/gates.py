"""Per-provider gates shared by every worker through Redis: circuit breaker, rate limit, 429 pause,
and the sliding window of recent attempts.

Two Lua scripts, one round trip each, atomic across workers:

- ``admit`` before an attempt: is the provider paused after a 429, is its circuit open (after the
  cool-down it turns half-open and lets ``probes`` attempts through), and when may this message
  go under the provider's rate limit. The rate limit is GCRA (the generic cell rate algorithm):
  one timestamp per provider, the theoretical arrival time. Admission *reserves* the message's
  slot, so a message that must wait goes to the delay queue until its own slot instead of
  coming back to compete again. A slot further away than the caller can wait is not reserved.
- ``report`` after an attempt: counts it in the provider's window, moves the circuit (a run of
  failures, or a failure rate over the window, opens it; an account or path error opens it at
  once; a half-open probe closes it on success and opens it again on failure), and pauses the
  provider for every worker after a 429.

What counts as a failure for the circuit: ``retryable`` (but a 429, which pauses instead),
``ambiguous`` and ``provider_error`` answers. ``accepted`` and ``rejected`` (the message's own
fault) show a working provider.
"""

from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import redis

from dispatcher.config.settings import ProviderSettings
from dispatcher.core.latency import LATENCY_BUCKETS_MS, bucket_index
from dispatcher.core.provider_health import WindowStats
from dispatcher.store.redis_keys import (
    METRICS,
    circuit_key,
    hour_key,
    pause_key,
    rate_key,
    window_key,
)

__all__ = [
    "Admission",
    "AttemptClass",
    "CircuitMove",
    "CircuitState",
    "GateView",
    "ProviderGates",
    "circuit_class",
    "rate_cost",
]

WINDOW_SLOTS = 6  # the window is kept as this many buckets
OUTCOMES = ("accepted", "retryable", "ambiguous", "rejected", "provider_error")
# The per-outcome fields of one minute of the last hour, for the Lua HDEL at a minute's reuse.
OUTCOME_FIELDS_LUA = ", ".join(f"m .. ':{o}'" for o in OUTCOMES)


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class AttemptClass(enum.StrEnum):
    """What one attempt says about its provider's health."""

    SUCCESS = "success"
    FAILURE = "failure"
    TRIP = "trip"  # an account or path error: open at once
    THROTTLED = "throttled"  # a 429: pause, but the provider is not failing


def _now_ms() -> int:
    return int(time.time() * 1000)


def rate_cost(segments: int, *, counts_segments: bool) -> int:
    """What one message costs against a rate limit: its segments where the provider counts
    parts, else 1."""
    return segments if counts_segments else 1


def circuit_class(outcome: str, http_status: int | None) -> AttemptClass:
    """The health class of an attempt's outcome (see the module text)."""
    if http_status == 429:
        return AttemptClass.THROTTLED
    if outcome in ("accepted", "rejected"):
        return AttemptClass.SUCCESS
    if outcome == "provider_error":
        return AttemptClass.TRIP
    return AttemptClass.FAILURE


# KEYS: circuit, rate, pause, metrics. ARGV: now ms, probes, probe window ms, emission interval
# ms (0: no limit), burst, cost, longest wait ms, 1 when the message already holds its slot,
# provider. Returns {verdict, at ms, probe 0/1, turned half-open 0/1}; verdict: go | paused | open
# | probing | saturated. ``at`` is when to go (go) or when to look again (the others). Every wait
# is counted in the metrics ("waits|<provider>|<why>").
_ADMIT = """
local function held(why, at, turned)
  redis.call('HINCRBY', KEYS[4], 'waits|' .. ARGV[9] .. '|' .. why, 1)
  return {why, at, 0, turned}
end
local now = tonumber(ARGV[1])
local pause = redis.call('PTTL', KEYS[3])
if pause > 0 then return held('paused', now + pause, 0) end
local c = redis.call('HMGET', KEYS[1], 'state', 'open_until_ms', 'probe_until_ms', 'probes')
local state = c[1] or 'closed'
local turned = 0
local probe = 0
local probes = tonumber(c[4] or '0')
local probe_until = tonumber(c[3] or '0')
if state == 'open' then
  local open_until = tonumber(c[2] or '0')
  if now < open_until then return held('open', open_until, 0) end
  state = 'half_open'
  turned = 1
  probes = 0
  probe_until = 0
  redis.call('HSET', KEYS[1], 'state', 'half_open', 'since_ms', now,
    'probes', 0, 'probe_until_ms', 0)
end
if state == 'half_open' then
  if now >= probe_until then probes = 0 end
  if probes >= tonumber(ARGV[2]) then return held('probing', probe_until, turned) end
  probe = 1
end
local at = now
local interval = tonumber(ARGV[4])
if interval > 0 and ARGV[8] ~= '1' then
  local cost = tonumber(ARGV[6])
  -- A message of more parts than the burst goes once the limiter is idle, and pays in full.
  local burst = math.max(tonumber(ARGV[5]), cost)
  local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval * cost
  local allow_at = new_tat - interval * burst
  if allow_at - now > tonumber(ARGV[7]) then return held('saturated', allow_at, turned) end
  redis.call('SET', KEYS[2], string.format('%.3f', new_tat), 'PX', math.ceil(new_tat - now) + 1000)
  if allow_at > now then
    at = allow_at
    redis.call('HINCRBY', KEYS[4], 'waits|' .. ARGV[9] .. '|rate_limit', 1)
  end
end
if probe == 1 then
  if probes == 0 then probe_until = now + tonumber(ARGV[3]) end
  redis.call('HSET', KEYS[1], 'probes', probes + 1, 'probe_until_ms', probe_until)
end
return {'go', math.floor(at), probe, turned}
"""

# Lua shared by the two report scripts: where ``now`` falls in a provider's recent window and in
# its last hour, and the reset of a slot being reused.
_SLOTS = f"""
local function window_position(now, window_ms)
  local bucket = math.floor(now / math.floor(window_ms / {WINDOW_SLOTS}))
  return bucket % {WINDOW_SLOTS}, bucket
end
local function fresh_window_slot(window, slot, bucket)
  if tonumber(redis.call('HGET', window, 'b' .. slot) or '-1') ~= bucket then
    redis.call('HSET', window, 'b' .. slot, bucket, 'n' .. slot, 0, 'f' .. slot, 0, 'l' .. slot, 0)
    for i = 0, {len(LATENCY_BUCKETS_MS)} do redis.call('HDEL', window, 'h' .. slot .. '_' .. i) end
  end
end
local function hour_slot(hour, now)
  local minute = math.floor(now / 60000)
  local m = minute % 60
  if tonumber(redis.call('HGET', hour, 'b' .. m) or '-1') ~= minute then
    redis.call('HDEL', hour, 'l' .. m, {OUTCOME_FIELDS_LUA})
    redis.call('HSET', hour, 'b' .. m, minute)
  end
  return m
end
"""

# KEYS: circuit, window, pause, metrics, last hour. ARGV: now ms, class, latency ms, probe 0/1,
# failures in a row, failure rate, min calls, window ms, cool-down ms, pause ms, reason, provider,
# outcome, latency bucket. Returns {state before, state after, reason of an opening}.
_REPORT = (
    _SLOTS
    + f"""
local now = tonumber(ARGV[1])
local class = ARGV[2]
local provider, outcome, lb = ARGV[12], ARGV[13], ARGV[14]
local slots = {WINDOW_SLOTS}
local slot, bucket = window_position(now, tonumber(ARGV[8]))
-- Counters since the start, for /metrics.
redis.call('HINCRBY', KEYS[4], 'attempts|' .. provider .. '|' .. outcome, 1)
redis.call('HINCRBY', KEYS[4], 'latency|' .. provider .. '|' .. lb, 1)
redis.call('HINCRBY', KEYS[4], 'latency_ms_sum|' .. provider, ARGV[3])
-- The last hour, a slot a minute, for the dashboard.
local m = hour_slot(KEYS[5], now)
redis.call('HINCRBY', KEYS[5], m .. ':' .. outcome, 1)
redis.call('HINCRBY', KEYS[5], 'l' .. m, ARGV[3])
redis.call('PEXPIRE', KEYS[5], 7200000)
-- The recent window: circuit failure rate, adaptive weights, p50 / p95.
if class ~= 'throttled' then
  fresh_window_slot(KEYS[2], slot, bucket)
  redis.call('HINCRBY', KEYS[2], 'n' .. slot, 1)
  redis.call('HINCRBY', KEYS[2], 'l' .. slot, ARGV[3])
  redis.call('HINCRBY', KEYS[2], 'h' .. slot .. '_' .. lb, 1)
  if class ~= 'success' then redis.call('HINCRBY', KEYS[2], 'f' .. slot, 1) end
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[8]) * 2)
end
local c = redis.call('HMGET', KEYS[1], 'state', 'run', 'probes')
local before = c[1] or 'closed'
local after = before
local run = tonumber(c[2] or '0')
local why = ''
local function open(reason)
  why = reason
  redis.call('HSET', KEYS[1], 'state', 'open', 'since_ms', now,
    'open_until_ms', now + tonumber(ARGV[9]), 'reason', reason, 'probes', 0, 'probe_until_ms', 0)
  after = 'open'
end
if class == 'throttled' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[10])
  if before == 'half_open' and ARGV[4] == '1' then
    redis.call('HSET', KEYS[1], 'probes', math.max(0, tonumber(c[3] or '1') - 1))
  end
elseif class == 'success' then
  redis.call('HSET', KEYS[1], 'run', 0)
  if before == 'half_open' then
    redis.call('HSET', KEYS[1], 'state', 'closed', 'since_ms', now, 'reason', '', 'probes', 0)
    after = 'closed'
  end
else
  run = run + 1
  redis.call('HSET', KEYS[1], 'run', run)
  if class == 'trip' and before ~= 'open' then
    open(ARGV[11])
  elseif before == 'half_open' then
    open('probe failed: ' .. ARGV[11])
  elseif before == 'closed' then
    if run >= tonumber(ARGV[5]) then
      open(run .. ' failures in a row; last: ' .. ARGV[11])
    else
      local calls, failures = 0, 0
      for s = 0, slots - 1 do
        local b = tonumber(redis.call('HGET', KEYS[2], 'b' .. s) or '-1')
        if b > bucket - slots then
          calls = calls + tonumber(redis.call('HGET', KEYS[2], 'n' .. s) or '0')
          failures = failures + tonumber(redis.call('HGET', KEYS[2], 'f' .. s) or '0')
        end
      end
      if calls >= tonumber(ARGV[7]) and failures / calls >= tonumber(ARGV[6]) then
        open(string.format('%d of %d attempts failed; last: %s', failures, calls, ARGV[11]))
      end
    end
  end
end
return {{before, after, why}}
"""
)


# KEYS: circuit, window, metrics, last hour. ARGV: now ms, window ms, provider, attempts,
# latency ms sum, then outcome/count pairs until '|', then latency bucket/count pairs. Adds the
# successes a worker counted since its last flush (see ProviderGates): what _REPORT does for each
# success on a closed circuit, in one step for all of them.
_REPORT_SUCCESSES = (
    _SLOTS
    + """
local now = tonumber(ARGV[1])
local provider, attempts, latency = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local slot, bucket = window_position(now, tonumber(ARGV[2]))
local m = hour_slot(KEYS[4], now)
fresh_window_slot(KEYS[2], slot, bucket)
local i = 6
while ARGV[i] ~= '|' do
  redis.call('HINCRBY', KEYS[3], 'attempts|' .. provider .. '|' .. ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', KEYS[4], m .. ':' .. ARGV[i], ARGV[i + 1])
  i = i + 2
end
i = i + 1
while i <= #ARGV do
  redis.call('HINCRBY', KEYS[3], 'latency|' .. provider .. '|' .. ARGV[i], ARGV[i + 1])
  redis.call('HINCRBY', KEYS[2], 'h' .. slot .. '_' .. ARGV[i], ARGV[i + 1])
  i = i + 2
end
redis.call('HINCRBY', KEYS[3], 'latency_ms_sum|' .. provider, latency)
redis.call('HINCRBY', KEYS[4], 'l' .. m, latency)
redis.call('PEXPIRE', KEYS[4], 7200000)
redis.call('HINCRBY', KEYS[2], 'n' .. slot, attempts)
redis.call('HINCRBY', KEYS[2], 'l' .. slot, latency)
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
redis.call('HSET', KEYS[1], 'run', 0)
return attempts
"""
)


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

    verdict: str  # go | paused | open | probing | saturated
    at_ms: int
    probe: bool = False
    turned_half_open: bool = False

    @property
    def go(self) -> bool:
        return self.verdict == "go"


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
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._redis = client
        self._settings = settings
        self._admit = client.register_script(_ADMIT)
        self._report = client.register_script(_REPORT)
        self._report_successes = client.register_script(_REPORT_SUCCESSES)
        # The fast path (off with 0): a provider without a rate limit that Redis just admitted
        # with a closed circuit is admitted without asking again for this long, and successes
        # that were no half-open probe are counted here and written by flush() instead of one
        # by one. Failures are reported at once, after the successes counted before them.
        self._fast_path_ms = fast_path_ms
        self._clock_ms = clock_ms
        self._closed_until_ms: dict[str, int] = {}
        self._successes: dict[str, _Successes] = {}
        self._lock = threading.Lock()

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
            return Admission("go", now_ms)
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
            verdict.decode() if isinstance(verdict, bytes) else str(verdict),
            int(at_ms),
            probe=bool(int(probe)),
            turned_half_open=bool(int(turned)),
        )
        if fast and admission.go and not admission.probe:
            self._closed_until_ms[provider] = now_ms + self._fast_path_ms
        else:
            self._closed_until_ms.pop(provider, None)
        return admission

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
