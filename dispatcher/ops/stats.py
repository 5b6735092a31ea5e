"""What ``smsdispatch stats`` and the dashboard show: one snapshot of the whole system.

Read from Redis in a few round trips: queue depths, in flight, waiting to retry (or for a
provider), dead letters, status callbacks pending, workers (fresh or stale, by heartbeat age),
Redis's memory against its ``maxmemory``, and per provider its circuit, 429 pause, rate limit
and what the recent window says (attempts, success rate, p50 / p95 latency), with each weighted
route's shares.
"""

from __future__ import annotations

from typing import Any

from dispatcher.config.settings import Settings
from dispatcher.core.circuit import OUTCOMES
from dispatcher.ops.provider_views import delivery_lines, provider_status
from dispatcher.ops.spend_view import spend_view
from dispatcher.store.backlog import backlog, hour_rows
from dispatcher.store.connection import RedisClient
from dispatcher.store.heartbeats import stale_after_ms, worker_ages_ms
from dispatcher.store.redis_memory import redis_memory

__all__ = ["hour_series", "render_stats", "stats_snapshot", "workers"]


def workers(client: RedisClient, *, now_ms: int, heartbeat_s: float) -> list[dict[str, Any]]:
    """Every worker seen in the last day: its heartbeat's age and whether that is stale."""
    stale_ms = stale_after_ms(heartbeat_s)
    return [
        {"name": name, "age_ms": age, "stale": age >= stale_ms}
        for name, age in sorted(worker_ages_ms(client, now_ms=now_ms).items())
    ]


def stats_snapshot(settings: Settings, client: RedisClient, *, now_ms: int) -> dict[str, Any]:
    """The snapshot as JSON-ready data."""
    providers = provider_status(settings, client, now_ms=now_ms)
    for entry in providers["providers"]:
        window = entry["window"]
        window["success_rate"] = round(1 - window["failure_rate"], 4) if window["calls"] else None
        limit = entry["rate_limit"]
        per_s = window["calls"] / settings.providers[entry["name"]].circuit.window_s
        entry["rate_use"] = round(per_s / limit, 4) if limit else None
    return {
        "at_ms": now_ms,
        **backlog(client, list(settings.providers)),
        "spend": spend_view(settings, client, now_ms=now_ms),
        "workers": workers(client, now_ms=now_ms, heartbeat_s=settings.worker.heartbeat_s),
        "redis_memory": redis_memory(client).as_dict(),
        **providers,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _guard_lines(snapshot: dict[str, Any]) -> list[str]:
    """What the guards at the door refused, and the countries whose OTPs are held."""
    refused = ", ".join(f"{code} {n}" for code, n in snapshot["refused"].items())
    lines = [f"guards       refused {refused}    smart-encoded {snapshot['smart_encoded']}"]
    held = [c for c, until in snapshot["brakes"].items() if until > snapshot["at_ms"]]
    if held:
        lines.append(f"OTPs held by the pumping guard  {', '.join(held)}")
    spend = snapshot["spend"]
    currency = spend["currency"]
    lines.append(
        f"spend        today {spend['day'].get('all', 0):g} {currency}"
        f"    this month {spend['month'].get('all', 0):g} {currency}"
    )
    lines.extend(
        f"  cap {cap['name']} ({cap['period']}): {cap['spent']:g} of {cap['limit']:g} "
        f"{currency} ({cap['share']:.0%})"
        for cap in spend["caps"]
    )
    return lines


def _memory_lines(memory: dict[str, Any]) -> list[str]:
    """Redis's memory against its limit, and what is wrong with it."""
    used = f"{memory['used_bytes'] / 1_000_000:.1f} MB"
    if memory["max_bytes"]:
        limit = f"of maxmemory {memory['max_bytes'] / 1_000_000:.1f} MB ({memory['policy']})"
    else:
        limit = "(no maxmemory)"
    lines = [f"redis        memory {used} {limit}"]
    if memory["problem"]:
        lines.append(f"  {'OUT OF MEMORY' if memory['full'] else 'WARNING'}: {memory['problem']}")
    return lines


def render_stats(snapshot: dict[str, Any]) -> str:
    """The snapshot as one screen of text."""
    queues = "  ".join(
        f"{name} {depth} jobs, {snapshot['ready'][name]} ready"
        for name, depth in snapshot["queues"].items()
    )
    lines = [
        f"queues       {queues}",
        f"in flight    {snapshot['in_flight']}    waiting to retry {snapshot['waiting_to_retry']}"
        f"    dead letters {snapshot['dead_letters']}"
        f"    callbacks pending {snapshot['callbacks_pending']}"
        f"    awaiting reports {snapshot['awaiting_reports']}",
        f"consent      opt-outs {snapshot['opt_outs']}    inbound kept {snapshot['inbound_kept']}",
        *_guard_lines(snapshot),
    ]
    lookups = {name: n for name, n in snapshot["awaiting_lookups"].items() if n}
    if lookups:
        waiting = ", ".join(f"{name} {n}" for name, n in lookups.items())
        lines.append(f"status lookups waiting  {waiting}")
    fresh = [w for w in snapshot["workers"] if not w["stale"]]
    stale = [w for w in snapshot["workers"] if w["stale"]]
    lines.append(f"workers      {len(fresh)} consuming, {len(stale)} stale")
    lines.extend(
        f"  STALE {w['name']}: last job or canary {w['age_ms'] / 1000:.0f} s ago" for w in stale
    )
    lines.extend(_memory_lines(snapshot["redis_memory"]))
    lines.append("")
    row = "{:<12} {:<10} {:>8} {:>8} {:>7} {:>7} {:>9}  {}"
    lines.append(
        row.format(
            "PROVIDER", "CIRCUIT", "ATTEMPTS", "SUCCESS", "P50 MS", "P95 MS", "RATE USE", "NOTE"
        )
    )
    for p in snapshot["providers"]:
        window = p["window"]
        success = "-" if window["success_rate"] is None else f"{window['success_rate']:.1%}"
        rate_use = "-" if p["rate_use"] is None else f"{p['rate_use']:.0%}"
        notes = []
        if p["circuit"] != "closed":
            notes.append(p["circuit_reason"])
        if p["paused_until_ms"]:
            notes.append("paused after 429")
        if not p["enabled"]:
            notes.append("disabled")
        lines.append(
            row.format(
                p["name"],
                p["circuit"],
                window["calls"],
                success,
                _ms(window["p50_ms"]),
                _ms(window["p95_ms"]),
                rate_use,
                "; ".join(notes),
            )
        )
    delivery = delivery_lines(snapshot["providers"])
    if delivery:
        lines += ["", *delivery]
    return "\n".join(lines)


def hour_series(settings: Settings, client: RedisClient, *, now_ms: int) -> dict[str, Any]:
    """Each provider's last 60 minutes, oldest first: attempts by outcome and mean latency."""
    names = list(settings.providers)
    now_minute = now_ms // 60_000
    series: dict[str, Any] = {}
    for name, fields in zip(names, hour_rows(client, names), strict=True):
        minutes = []
        for minute in range(now_minute - 59, now_minute + 1):
            slot = minute % 60
            current = fields.get(f"b{slot}") == minute
            counts = {o: fields.get(f"{slot}:{o}", 0) if current else 0 for o in OUTCOMES}
            attempts = sum(counts.values())
            latency = fields.get(f"l{slot}", 0) if current else 0
            minutes.append(
                {
                    "minute_ms": minute * 60_000,
                    "outcomes": counts,
                    "mean_latency_ms": round(latency / attempts, 1) if attempts else None,
                }
            )
        series[name] = minutes
    return series
