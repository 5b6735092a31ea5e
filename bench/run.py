"""``make bench``: sms-dispatch against its baselines, side by side in one run, on loopback.

For each provider latency (the simulator answering after 0 ms and after 200 ms):

- (a) ceiling: a bare aiohttp client (one pooled session) posting to the simulator, with as many
  requests in flight as a worker keeps (``--in-flight``, its ``max_in_flight``);
- (b) floor: a no-op Celery task, same pool, concurrency and broker settings (stock Celery and
  kombu: the targets' floor);
- (b2) at 0 ms, the same floor with one Redis client per broker connection pool, as the
  sms-dispatch worker keeps (:mod:`dispatcher.queueing.broker_clients`), to show what that change
  alone is worth;
- (b3) at 0 ms, the floor with all of the sms-dispatch worker's process settings: one Redis
  client per broker pool, pinned to one CPU (:mod:`dispatcher.worker.cpu_pinning`), the collector's
  settings (:mod:`dispatcher.worker.gc_settings`): the floor like for like, beside the targets'
  stock one;
- (c) naive: prefork pool at its default concurrency, ``asyncio.run`` and a new session per task;
- (d) sms-dispatch, ``send_sms`` one by one, one worker process;
- (e) sms-dispatch, the same count through ``send_bulk``;
- (f) sms-dispatch, two worker processes;
- (d0) at 0 ms, (d) with the worker and ``send_sms`` of the code before single sends shared jobs
  (:data:`BEFORE_SHARED_JOBS`, from ``git archive``);
- (d1) at 0 ms, (d) with every guard on money off (no country list, velocity limit, price table
  or spend cap), in the same rounds: what the guards cost single sends;
- (g) ``send_sms`` at ``--paced-rate`` (5) messages a second into an idle system, and (g0) the
  same with the code before shared jobs: enqueue-to-accepted p50/p99 of a lone message.

The sms-dispatch workers run with the shipped defaults (``config/default.toml``: INFO JSON logs);
the floors keep Celery's defaults for theirs.

Each run first sends ``--warm-up`` messages (500; 50 for the naive run), untimed and uncounted.
Each row: messages/s end to end (first enqueue to last accepted), p50/p99 enqueue-to-accepted
latency, worker RSS before and after, Redis commands per message (``INFO commandstats``, the calls
made inside Lua scripts included), provider requests per message, and the CPU time per message
of the worker (of the client itself in the ceiling; every process's is in the JSON). The floor
and sms-dispatch run ``--repeat`` rounds (3) and show their median run; the targets of (d) (at 0
and 200 ms) and of (e) are the median of their ratios round by round. From the CPU times it
also works out what (d) would reach if its worker spent on a message no more than the floor's
worker on a job ((b3), like for like) plus (a)'s client on an exchange, and (d) and (e) against
(b3) paired by round. Results go to ``bench/results.json``; ``--soak N`` adds an
RSS run of N messages through (e).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import redis

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dispatcher.config.guard_settings import GuardSettings  # noqa: E402
from dispatcher.config.settings import Settings, load_settings, reset_settings  # noqa: E402
from dispatcher.config.spend_settings import SpendSettings  # noqa: E402
from dispatcher.devstack.embedded_redis import EmbeddedRedis, free_port  # noqa: E402
from dispatcher.devstack.local_http import request_json  # noqa: E402
from dispatcher.devstack.simulator_wiring import simulator_env  # noqa: E402
from dispatcher.intake.enqueue import Dispatcher  # noqa: E402
from dispatcher.logs import configure_logging  # noqa: E402
from dispatcher.store.opt_outs import OptOutEntry  # noqa: E402
from dispatcher.store.redis_keys import METRICS, OPT_OUTS  # noqa: E402

PYTHON = sys.executable


@dataclass
class Row:
    scenario: str
    latency_ms: int
    count: int
    msgs_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    rss_before_mb: float | None = None
    rss_after_mb: float | None = None
    redis_commands_per_msg: float | None = None
    provider_requests_per_msg: float | None = None
    # CPU time per message (ms) of each process: worker (all worker processes), redis, simulator,
    # and this process (the enqueuer; the client itself in the ceiling).
    cpu_ms_per_msg: dict[str, float] | None = None
    runs_msgs_per_s: list[float] | None = None  # every run's rate, when repeated (median shown)


def _percentiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    ordered = sorted(values)
    return (
        round(statistics.median(ordered), 1),
        round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
    )


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"{what} not done within {timeout_s:.0f} s")


# Every guard at the door on, none reached: the bench's 10,000 numbers are in one range of one
# country, and a run (its Redis emptied first) sends at most 50,500 messages, 6 to a number.
# Every provider has a price table, and a daily spend cap holds a reservation for each message.
GUARDS_ON = {
    "SMSD_GUARD__ALLOWED_COUNTRIES": '["US"]',
    "SMSD_GUARD__PER_NUMBER": "100",
    "SMSD_GUARD__PER_RANGE": "1000000",
    "SMSD_GUARD__PER_COUNTRY": "1000000",
    "SMSD_SPEND__DAILY_LIMIT": "1000000",
    **{
        f"SMSD_PRICES__{name}__{prefix}": price
        for name in ("SINCH", "GOSMS", "CECULA", "YELLOWPUSH", "TWILIO", "VONAGE")
        for prefix, price in (("DEFAULT", "0.02"), ("1", "0.0079"))
    },
}


class Stack:
    """Embedded Redis and the simulator, and the environment that points everything at them."""

    def __init__(
        self,
        data_dir: Path,
        concurrency: int,
        in_flight: int,
        warm_up: int = 0,
        opt_outs: int = 0,
    ) -> None:
        # Entries on the opt-out list every run starts with (none of them a bench destination).
        self.opt_outs = opt_outs
        self.redis_server = EmbeddedRedis(data_dir / "redis")
        self.redis_url = self.redis_server.start()
        self.redis = redis.Redis.from_url(self.redis_url, decode_responses=True)
        self.sim_port = free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        os.chdir(REPO)
        base = load_settings()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SMSD_")},
            "SMSD_REDIS_URL": self.redis_url,
            **simulator_env(base, self.sim_url, lambda _var: secrets.token_urlsafe(16), environ={}),
            "SMSD_WORKER__CONCURRENCY": str(concurrency),
            "SMSD_WORKER__MAX_IN_FLIGHT": str(in_flight),
            "SMSD_DATA_DIR": str(data_dir / "smsd"),
            "PYTHONPATH": str(REPO),
            **GUARDS_ON,
        }
        os.environ.update(self.env)
        reset_settings()
        self.settings = load_settings()
        self.concurrency = concurrency
        self.in_flight = in_flight
        # Messages every run sends first, untimed and uncounted (connections opened, code warm).
        self.warm_up = warm_up
        self.simulator: subprocess.Popen[bytes] | None = None

    def start_simulator(self, latency_ms: int) -> None:
        self.stop_simulator()
        self.simulator = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "dispatcher",
                "simulator",
                "--port",
                str(self.sim_port),
                "--latency-ms",
                str(latency_ms),
                "--report-delay-ms",
                "600000",
            ],
            env=self.env,
            cwd=REPO,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda: _ok(f"{self.sim_url}/healthz"), 20, "simulator start")

    def stop_simulator(self) -> None:
        if self.simulator is not None:
            self.simulator.terminate()
            self.simulator.wait(timeout=10)
            self.simulator = None

    def reset(self) -> None:
        """An empty Redis but for the opt-out list, zeroed command stats and simulator counts."""
        self.redis.flushall()
        self._load_opt_outs()
        self.redis.config_resetstat()
        request_json(f"{self.sim_url}/_sim/reset", {})

    def _load_opt_outs(self) -> None:
        """``self.opt_outs`` entries, 10,000 a command (numbers the bench never sends to)."""
        chunk: list[str] = []
        for n in range(self.opt_outs):
            entry = OptOutEntry(f"+4470{n:08d}", source="import")
            chunk += [entry.digest, entry.to_json()]
            if len(chunk) == 20_000:
                self.redis.hset(OPT_OUTS, items=chunk)
                chunk = []
        if chunk:
            self.redis.hset(OPT_OUTS, items=chunk)

    def commands(self) -> int:
        stats = self.redis.info("commandstats")
        return sum(
            int(v["calls"])
            for k, v in stats.items()
            if k not in ("cmdstat_info", "cmdstat_config|resetstat")
        )

    def provider_requests(self) -> int:
        return int(request_json(f"{self.sim_url}/_sim/stats")["total_sends"])

    def without_guards(self) -> tuple[Settings, dict[str, str]]:
        """The settings of the enqueuing process and the workers' environment with every guard
        on money off: no country list, velocity limit, brake, price table or spend cap."""
        settings = self.settings.model_copy(
            update={
                "guard": GuardSettings(per_number=0, per_range=0, min_otps=0),
                "spend": SpendSettings(),
                "prices": {},
            }
        )
        env = {k: v for k, v in self.env.items() if k not in GUARDS_ON}
        env.update(SMSD_GUARD__PER_NUMBER="0", SMSD_GUARD__PER_RANGE="0", SMSD_GUARD__MIN_OTPS="0")
        return settings, env

    def close(self) -> None:
        self.stop_simulator()
        self.redis_server.stop()


def _ok(url: str) -> bool:
    try:
        request_json(url, timeout_s=10)
    except OSError:
        return False
    return True


@contextmanager
def _workers(
    stack: Stack,
    argv: list[str],
    count: int,
    ready: Callable[[], bool],
    extra_env: dict[str, str] | None = None,
    *,
    cwd: Path = REPO,
    base_env: dict[str, str] | None = None,
) -> Iterator[list[psutil.Process]]:
    """Start ``count`` worker processes (in ``cwd``, in ``base_env`` (the stack's: None) with
    ``extra_env``); yield them once ``ready()``."""
    processes, logs = [], []
    for i in range(count):
        log = tempfile.NamedTemporaryFile(prefix=f"bench-worker-{i}-", suffix=".log", delete=False)  # noqa: SIM115
        logs.append(Path(log.name))
        processes.append(
            subprocess.Popen(
                [*argv, f"--hostname=bench{i}-{os.getpid()}@%h"],
                env={**(stack.env if base_env is None else base_env), **(extra_env or {})},
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        _wait(lambda: ready() or any(p.poll() is not None for p in processes), 60, "worker start")
        for path, process in zip(logs, processes, strict=True):
            if process.poll() is not None:
                raise RuntimeError(path.read_text(errors="replace"))
        yield [psutil.Process(p.pid) for p in processes]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for path in logs:
            path.unlink(missing_ok=True)


class CpuMeter:
    """CPU time (user + system) each process of a run spent, per message."""

    def __init__(self, stack: Stack, workers: list[psutil.Process]) -> None:
        self._processes: dict[str, list[psutil.Process]] = {
            "worker": workers,
            "here": [psutil.Process()],
        }
        if stack.redis_server.pid is not None:
            self._processes["redis"] = [psutil.Process(stack.redis_server.pid)]
        if stack.simulator is not None:
            self._processes["simulator"] = [psutil.Process(stack.simulator.pid)]
        self._start = self._seconds()

    def _seconds(self) -> dict[str, float]:
        spent = {}
        for name, processes in self._processes.items():
            total = 0.0
            for process in processes:
                family = [process]
                if name == "worker":
                    family += process.children(recursive=True)
                for member in family:
                    times = member.cpu_times()
                    total += times.user + times.system
            spent[name] = total
        workers = self._processes["worker"]
        if len(workers) == 1 and not workers[0].children():
            for group, seconds in _thread_groups(workers[0]).items():
                spent[f"worker:{group}"] = seconds
        return spent

    def per_message(self, count: int) -> dict[str, float]:
        now = self._seconds()
        return {
            name: round((now[name] - self._start.get(name, 0.0)) * 1000 / count, 3)
            for name in now
            if name != "worker" or self._processes["worker"]
        }


def _thread_groups(process: psutil.Process) -> dict[str, float]:
    """CPU seconds (user + system) of one worker's threads by what they are: ``main`` (Celery's
    consumer), ``unnamed`` (Celery's job threads: the ones the operating system knows by the
    process's name), and each kind of sms-dispatch's own threads, which name themselves
    (:mod:`dispatcher.sending.thread_names`; the finishers together). Empty where there is no
    ``/proc``."""
    task_dir = Path(f"/proc/{process.pid}/task")
    if not task_dir.is_dir():
        return {}
    try:
        process_name = (task_dir / str(process.pid) / "comm").read_text().strip()
        threads = process.threads()
    except (OSError, psutil.Error):
        return {}
    groups: dict[str, float] = {}
    for thread in threads:
        try:
            os_name = (task_dir / str(thread.id) / "comm").read_text().strip()
        except OSError:
            continue  # it ended meanwhile
        if thread.id == process.pid:
            group = "main"
        elif os_name == process_name:
            group = "unnamed"
        else:
            group = re.sub(r"-\d+$", "", os_name)
        groups[group] = groups.get(group, 0.0) + thread.user_time + thread.system_time
    return groups


def _rss_mb(processes: list[psutil.Process]) -> float:
    total = 0
    for process in processes:
        total += process.memory_info().rss
        total += sum(child.memory_info().rss for child in process.children(recursive=True))
    return round(total / 2**20, 1)


# --- (a) ceiling ---------------------------------------------------------------------------------


def ceiling(stack: Stack, latency_ms: int, count: int) -> Row:
    plan = stack.settings.providers["sinch"].options()["service_plan_id"]
    token = stack.env["SMSD_PROVIDERS__SINCH__API_TOKEN"]
    url = f"{stack.sim_url}/xms/v1/{plan}/batches"
    latencies: list[float] = []

    async def run() -> float:
        connector = aiohttp.TCPConnector(limit=stack.in_flight)
        gate = asyncio.Semaphore(stack.in_flight)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(i: int) -> None:
                async with gate:
                    started = time.perf_counter()
                    async with session.post(
                        url,
                        json={"to": [f"+1415555{i % 10000:04d}"], "body": "bench"},
                        headers={"Authorization": f"Bearer {token}"},
                    ) as answer:
                        await answer.read()
                    latencies.append((time.perf_counter() - started) * 1000)

            await asyncio.gather(*(one(i) for i in range(stack.warm_up)))
            stack.reset()
            latencies.clear()
            meters.append(CpuMeter(stack, []))
            began = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(count)))
            return time.perf_counter() - began

    meters: list[CpuMeter] = []
    elapsed = asyncio.run(run())
    cpu = meters[0].per_message(count)
    p50, p99 = _percentiles(latencies)
    return Row(
        "a ceiling: bare aiohttp client",
        latency_ms,
        count,
        round(count / elapsed, 1),
        p50,
        p99,
        provider_requests_per_msg=round(stack.provider_requests() / count, 3),
        cpu_ms_per_msg=cpu,
    )


# --- (b) floor and (c) naive: Celery baselines ---------------------------------------------------


@contextmanager
def _baseline_workers(
    stack: Stack, *, naive: bool, reuse_clients: bool = False, as_sms_worker: bool = False
) -> Iterator[list[psutil.Process]]:
    """One worker of a baseline app: prefork at its default concurrency (naive), or the threads
    pool at the stack's concurrency (no-op), on sms-dispatch's broker settings; with
    ``reuse_clients``, with the sms-dispatch worker's one Redis client per broker pool too, and
    with ``as_sms_worker`` with all of that worker's process settings (one client per pool, one
    CPU, the collector's settings)."""
    argv = [
        PYTHON,
        "-m",
        "celery",
        "-A",
        f"bench.baselines:{'naive' if naive else 'noop'}",
        "worker",
        "-Q",
        "sms.normal",
        "--loglevel=WARNING",
        "--without-gossip",
        "--without-mingle",
        "--events",
    ]
    argv += (
        ["--pool=prefork"] if naive else ["--pool=threads", f"--concurrency={stack.concurrency}"]
    )
    # Celery says nothing at WARNING when it is ready: a fixed start-up allowance.
    began_ms = time.time() * 1000
    allowance_ms = 6000 if naive else 4000
    ready = lambda: time.time() * 1000 - began_ms > allowance_ms  # noqa: E731
    env = {"BENCH_REUSE_BROKER_CLIENTS": "1"} if reuse_clients or as_sms_worker else {}
    if as_sms_worker:
        env["BENCH_AS_SMS_WORKER"] = "1"
    with _workers(stack, argv, 1, ready, env) as workers:
        yield workers


def _publish_baseline(app: Any, count: int, *, naive: bool) -> None:
    """``count`` baseline jobs, each carrying when it was enqueued."""
    for i in range(count):
        args = [time.time() * 1000, f"+1415555{i % 10000:04d}"] if naive else [time.time() * 1000]
        app.send_task(
            "bench.naive" if naive else "bench.noop",
            args=args,
            queue="sms.normal",
            routing_key="sms.normal",
        )


@contextmanager
def _sms_workers(
    stack: Stack, count: int, env: dict[str, str] | None = None
) -> Iterator[list[psutil.Process]]:
    """``count`` sms-dispatch workers as shipped (``config/default.toml``: INFO JSON logs, Celery's
    at INFO too), in ``env`` (the stack's: None); each is ready once it ran its first canary
    job."""
    argv = [PYTHON, "-m", "dispatcher", "worker", "--concurrency", str(stack.concurrency)]
    ready = lambda: stack.redis.zcard("smsd:workers") >= count  # noqa: E731
    with _workers(stack, argv, count, ready, base_env=env) as found:
        yield found


def _celery_baseline(
    stack: Stack,
    latency_ms: int,
    count: int,
    *,
    naive: bool,
    reuse_clients: bool = False,
    as_sms_worker: bool = False,
) -> Row:
    from bench.baselines import DONE
    from bench.baselines import naive as naive_app
    from bench.baselines import noop as noop_app

    app = naive_app if naive else noop_app
    stack.reset()
    with _baseline_workers(
        stack, naive=naive, reuse_clients=reuse_clients, as_sms_worker=as_sms_worker
    ) as workers:
        rss_before = _rss_mb(workers)
        stack.reset()
        warm_up = min(stack.warm_up, count // 6) if naive else stack.warm_up
        if warm_up:
            _publish_baseline(app, warm_up, naive=naive)
            _wait(lambda: stack.redis.llen(DONE) >= warm_up, 900, "warm-up tasks")
            stack.reset()
        commands_before = stack.commands()
        meter = CpuMeter(stack, workers)
        began = time.perf_counter()
        _publish_baseline(app, count, naive=naive)
        _wait(lambda: stack.redis.llen(DONE) >= count, 900, "baseline tasks")
        elapsed = time.perf_counter() - began
        cpu = meter.per_message(count)
        commands = stack.commands() - commands_before
        rss_after = _rss_mb(workers)
        latencies = [float(v) for v in stack.redis.lrange(DONE, 0, -1)]
    p50, p99 = _percentiles(latencies)
    name = (
        "c naive: prefork, asyncio.run + new session per task"
        if naive
        else "b3 floor as the sms worker: client per pool, 1 CPU, gc"
        if as_sms_worker
        else "b2 floor, one Redis client per broker pool (as in (d)-(f))"
        if reuse_clients
        else "b floor: no-op Celery task, threads pool"
    )
    return Row(
        name,
        latency_ms,
        count,
        round(count / elapsed, 1),
        p50,
        p99,
        rss_before,
        rss_after,
        round(commands / count, 2),
        round(stack.provider_requests() / count, 3) if naive else None,
        cpu,
    )


# --- (d), (e), (f): sms-dispatch -----------------------------------------------------------------


def _accepted(stack: Stack) -> int:
    return int(stack.redis.hget(METRICS, "messages|accepted") or 0)


def _send_messages(dispatcher: Dispatcher, count: int, *, bulk: bool) -> list[str]:
    """Enqueue ``count`` messages: one by one, or through ``send_bulk`` 1,000 at a time."""
    if not bulk:
        return [dispatcher.send_sms(f"+1415555{i % 10000:04d}", "bench") for i in range(count)]
    ids: list[str] = []
    for start in range(0, count, 1000):
        chunk = [
            {"to": f"+1415555{i % 10000:04d}", "body": "bench"}
            for i in range(start, min(count, start + 1000))
        ]
        ids += [r["id"] for r in dispatcher.send_bulk(chunk)]
    return ids


def _stamps(stack: Stack, ids: list[str]) -> list[tuple[float, float]]:
    """(created, updated) of each message that has both, epoch ms."""
    pipe = stack.redis.pipeline(transaction=False)
    for message_id in ids:
        pipe.hmget(f"smsd:msg:{message_id}", "created_at_ms", "updated_at_ms")
    return [(float(c), float(u)) for c, u in pipe.execute() if c and u]


def sms_dispatch(
    stack: Stack, latency_ms: int, count: int, *, bulk: bool, workers: int, guards: bool = True
) -> Row:
    """(d), (e) or (f); (d1) with ``guards`` false."""
    settings, env = (stack.settings, None) if guards else stack.without_guards()
    stack.reset()
    with _sms_workers(stack, workers, env) as processes:
        rss_before = _rss_mb(processes)
        stack.reset()
        dispatcher = Dispatcher(settings, redis_url=stack.redis_url)
        if stack.warm_up:
            _send_messages(dispatcher, stack.warm_up, bulk=bulk)
            _wait(lambda: _accepted(stack) >= stack.warm_up, 900, "warm-up messages")
            # The workers write their buffered counts every report_flush_s: let the warm-up's
            # all land before the slate is wiped.
            time.sleep(4 * stack.settings.worker.report_flush_s)
            stack.reset()
        commands_before = stack.commands()
        meter = CpuMeter(stack, processes)
        began_ms = time.time() * 1000
        ids = _send_messages(dispatcher, count, bulk=bulk)
        _wait(lambda: _accepted(stack) >= count, 900, "sms-dispatch messages")
        cpu = meter.per_message(count)
        commands = stack.commands() - commands_before
        rss_after = _rss_mb(processes)
        stamps = _stamps(stack, ids)
        latencies = [u - c for c, u in stamps]
        # Until the last message was recorded accepted (the metrics counter lags by up to
        # worker.report_flush_s).
        elapsed = (max(u for _, u in stamps) - began_ms) / 1000
        dispatcher.close()
    p50, p99 = _percentiles(latencies)
    how = "send_bulk" if bulk else "send_sms"
    letter = "e" if bulk else ("f" if workers > 1 else "d")
    name = f"{letter} sms-dispatch: {how}, {workers} worker{'s' if workers > 1 else ''}"
    if not guards:
        name = f"{letter}1 ({letter}) with every guard on money off"
    return Row(
        name,
        latency_ms,
        count,
        round(count / elapsed, 1),
        p50,
        p99,
        rss_before,
        rss_after,
        round(commands / count, 2),
        round(stack.provider_requests() / count, 3),
        cpu,
    )


# --- (g) a quiet web app: send_sms at 5 msgs/s, this tree and the one before shared jobs ----------

# The last commit whose send_sms gave every message a job of its own (before the ready lists).
BEFORE_SHARED_JOBS = "fbc215b"


def tree_before_shared_jobs(into: Path) -> Path | None:
    """The source tree of :data:`BEFORE_SHARED_JOBS`, written under ``into`` (``git archive``);
    None when this checkout does not have that commit."""
    tree = into / "before-shared-jobs"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BEFORE_SHARED_JOBS],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        print(f"(g0) skipped: {archive.stderr.decode(errors='replace').strip()}", flush=True)
        return None
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def _send_from(stack: Stack, tree: Path, count: int, rate: float, log_level: str) -> list[str]:
    """``count`` messages through the ``send_sms`` of ``tree``, ``rate`` a second (0: as fast as
    one process goes), from a process of its own (bench/paced_sends.py); their ids."""
    done = subprocess.run(
        [
            PYTHON,
            str(REPO / "bench" / "paced_sends.py"),
            *("--rate", str(rate), "--count", str(count), "--redis-url", stack.redis_url),
            *("--log-level", log_level),
        ],
        env={**stack.env, "PYTHONPATH": str(tree)},
        cwd=tree,
        capture_output=True,
        check=True,
    )
    return [str(i) for i in json.loads(done.stdout)]


def _all_accepted(stack: Stack, ids: list[str]) -> bool:
    pipe = stack.redis.pipeline(transaction=False)
    for message_id in ids:
        pipe.hget(f"smsd:msg:{message_id}", "state")
    return all(state == "accepted" for state in pipe.execute())


def older_send_sms(stack: Stack, count: int, tree: Path) -> Row:
    """(d0): (d) with the worker and the ``send_sms`` of the code before shared jobs, the
    messages sent by one process of that code as fast as it goes (its logs at WARNING, as
    (d)'s enqueuer); messages/s from the first enqueue to the last accepted."""
    stack.reset()
    argv = [PYTHON, "-m", "dispatcher", "worker", "--concurrency", str(stack.concurrency)]
    ready = lambda: stack.redis.zcard("smsd:workers") >= 1  # noqa: E731
    with _workers(stack, argv, 1, ready, {"PYTHONPATH": str(tree)}, cwd=tree) as processes:
        rss_before = _rss_mb(processes)
        stack.reset()
        if stack.warm_up:
            warm = _send_from(stack, tree, stack.warm_up, 0, "WARNING")
            _wait(lambda: _all_accepted(stack, warm), 900, "warm-up messages")
            time.sleep(4 * stack.settings.worker.report_flush_s)
            stack.reset()
        commands_before = stack.commands()
        meter = CpuMeter(stack, processes)
        ids = _send_from(stack, tree, count, 0, "WARNING")
        _wait(lambda: _all_accepted(stack, ids), 900, "messages of the older code")
        cpu = meter.per_message(count)
        commands = stack.commands() - commands_before
        rss_after = _rss_mb(processes)
        stamps = _stamps(stack, ids)
    elapsed = (max(u for _, u in stamps) - min(c for c, _ in stamps)) / 1000
    p50, p99 = _percentiles([u - c for c, u in stamps])
    return Row(
        f"d0 (d) with the code before shared jobs ({BEFORE_SHARED_JOBS})",
        0,
        count,
        round(count / elapsed, 1),
        p50,
        p99,
        rss_before,
        rss_after,
        round(commands / count, 2),
        round(stack.provider_requests() / count, 3),
        cpu,
    )


def paced(stack: Stack, count: int, rate: float, tree: Path, name: str) -> tuple[Row, list[float]]:
    """``count`` messages through ``send_sms`` at ``rate`` a second into an idle system, with the
    worker and the enqueue code of ``tree`` (a web app's logs at INFO): how long each took from
    enqueue to accepted."""

    stack.reset()
    argv = [PYTHON, "-m", "dispatcher", "worker", "--concurrency", str(stack.concurrency)]
    ready = lambda: stack.redis.zcard("smsd:workers") >= 1  # noqa: E731
    with _workers(stack, argv, 1, ready, {"PYTHONPATH": str(tree)}, cwd=tree) as processes:
        warm = _send_from(stack, tree, 20, 20.0, "INFO")
        _wait(lambda: _all_accepted(stack, warm), 120, "warm-up messages")
        stack.reset()
        meter = CpuMeter(stack, processes)
        began = time.perf_counter()
        ids = _send_from(stack, tree, count, rate, "INFO")
        _wait(lambda: _all_accepted(stack, ids), 120, "paced messages")
        elapsed = time.perf_counter() - began
        cpu = meter.per_message(count)
        latencies = [u - c for c, u in _stamps(stack, ids)]
    p50, p99 = _percentiles(latencies)
    row = Row(
        name,
        0,
        count,
        round(count / elapsed, 1),
        p50,
        p99,
        provider_requests_per_msg=round(stack.provider_requests() / count, 3),
        cpu_ms_per_msg=cpu,
    )
    return row, latencies


def paced_rows(stack: Stack, args: argparse.Namespace, old: Path | None) -> list[Row]:
    """(g) this tree and (g0) the tree before shared jobs, at ``--paced-rate``, ``--repeat``
    rounds taken in turn; each row's p50 and p99 are over the messages of every round, its other
    figures those of its median-rate round."""
    rate = args.paced_rate
    trees = [(REPO, f"g sms-dispatch: send_sms at {rate:g} msgs/s, idle system")]
    if old is not None:
        trees.append((old, f"g0 the same, code before shared jobs ({BEFORE_SHARED_JOBS})"))
    runs: list[list[Row]] = [[] for _ in trees]
    latencies: list[list[float]] = [[] for _ in trees]
    for _ in range(args.repeat):
        for which, (tree, name) in enumerate(trees):
            row, took = paced(stack, args.paced_count, rate, tree, name)
            runs[which].append(row)
            latencies[which] += took
    rows = []
    for which, rounds in enumerate(runs):
        row = _median_run(rounds)
        row.count = len(latencies[which])
        row.p50_ms, row.p99_ms = _percentiles(latencies[which])
        rows.append(row)
    return rows


# --- Redis commands per message, counted with MONITOR (an untimed pass) --------------------------


class CommandCounter:
    """Counts the commands Redis runs while it is open: from clients (round trips) and from
    inside Lua scripts, by command name. MONITOR slows Redis down, so this is its own pass."""

    def __init__(self, redis_url: str) -> None:
        self._url = redis_url
        self._client = redis.Redis.from_url(redis_url)
        self.clients: dict[str, int] = {}
        self.in_scripts = 0
        self._stop = False
        self._thread = threading.Thread(target=self._listen, daemon=True)

    def _listen(self) -> None:
        with self._client.monitor() as monitor:  # type: ignore[no-untyped-call]
            self._ready.set()
            while not self._stop:
                command = monitor.next_command()
                name = command["command"].split(" ", 1)[0].upper()
                if command["client_type"] == "lua":
                    self.in_scripts += 1
                elif name not in ("PING", "INFO", "MONITOR"):
                    self.clients[name] = self.clients.get(name, 0) + 1

    def __enter__(self) -> CommandCounter:
        self._ready = threading.Event()
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        self._stop = True
        redis.Redis.from_url(self._url).ping()  # wakes the listener so it sees the stop
        self._thread.join(timeout=10)


def count_commands(stack: Stack, count: int) -> dict[str, Any]:
    """Round trips per message for the floor (b) and for sms-dispatch (d), at 0 ms."""
    from bench.baselines import DONE
    from bench.baselines import noop as noop_app

    result: dict[str, Any] = {"count": count}
    stack.reset()
    with _baseline_workers(stack, naive=False):
        stack.reset()
        with CommandCounter(stack.redis_url) as counter:
            _publish_baseline(noop_app, count, naive=False)
            _wait(lambda: stack.redis.llen(DONE) >= count, 300, "floor tasks")
            time.sleep(1)
        result["floor"] = {
            "per_msg": round(sum(counter.clients.values()) / count, 2),
            "by_command": counter.clients,
        }
    stack.reset()
    with _sms_workers(stack, 1):
        result["sms_dispatch"] = _count_sms(stack, stack.settings, count)
        # The same with the guards at the door off (the door's work is all in the enqueuing
        # process): what they cost in commands.
        result["sms_dispatch_guards_off"] = _count_sms(stack, stack.without_guards()[0], count)
    result["beyond_celery_per_msg"] = round(
        result["sms_dispatch"]["per_msg"] - result["floor"]["per_msg"], 2
    )
    result["guards_in_scripts_per_msg"] = round(
        result["sms_dispatch"]["in_scripts_per_msg"]
        - result["sms_dispatch_guards_off"]["in_scripts_per_msg"],
        2,
    )
    return result


def _count_sms(stack: Stack, settings: Settings, count: int) -> dict[str, Any]:
    """Commands of ``count`` messages sent one by one through ``send_sms`` of ``settings``
    into the running sms-dispatch worker: round trips and commands inside scripts."""
    stack.reset()
    dispatcher = Dispatcher(settings, redis_url=stack.redis_url)
    with CommandCounter(stack.redis_url) as counter:
        for i in range(count):
            dispatcher.send_sms(f"+1415555{i:04d}", "bench")
        _wait(lambda: _accepted(stack) >= count, 300, "sms-dispatch messages")
        time.sleep(1)
    dispatcher.close()
    return {
        "per_msg": round(sum(counter.clients.values()) / count, 2),
        "in_scripts_per_msg": round(counter.in_scripts / count, 2),
        "by_command": counter.clients,
    }


# --- the run -------------------------------------------------------------------------------------


def _letter(row: Row) -> str:
    """The scenario's letter ("a" ... "f", "b2", "b3")."""
    return row.scenario.split(" ", 1)[0]


def _is(row: Row, letter: str) -> bool:
    return _letter(row) == letter


def _cell(value: object) -> str:
    return "-" if value is None else str(value)


def _cpu_cell(r: Row) -> str:
    """The CPU time per message of the process doing the sends: the worker, or the ceiling's
    client (this process)."""
    if not r.cpu_ms_per_msg:
        return "-"
    return str(r.cpu_ms_per_msg.get("worker", r.cpu_ms_per_msg.get("here")))


def _table(rows: list[Row]) -> str:
    columns = ("scenario", "provider", "count", "msgs/s", "p50 ms", "p99 ms", "RSS MB", "redis/msg")
    line = "{:<56} {:>8} {:>6} {:>9} {:>8} {:>8} {:>13} {:>9} {:>7} {:>8}"
    head = line.format(*columns, "req/msg", "CPU ms")
    lines = [head, "-" * len(head)]
    for r in rows:
        rss = f"{r.rss_before_mb}->{r.rss_after_mb}" if r.rss_before_mb is not None else "-"
        cells = (
            r.scenario,
            f"{r.latency_ms} ms",
            r.count,
            r.msgs_per_s,
            _cell(r.p50_ms),
            _cell(r.p99_ms),
            rss,
            _cell(r.redis_commands_per_msg),
            _cell(r.provider_requests_per_msg),
            _cpu_cell(r),
        )
        lines.append(line.format(*cells))
    return "\n".join(lines)


def cpu_bound(rows: list[Row]) -> dict[str, Any]:
    """What (d) could reach at 0 ms if its worker spent on a message only what the floor's worker
    spends on a job plus what the ceiling's client spends on one exchange (a), as measured in
    this run: one worker process runs its Python on one core at a time. The floor is the one with
    the sms-dispatch worker's process settings (b3) when the run has it, else the stock one."""

    def row(prefix: str) -> Row:
        return next(r for r in rows if _is(r, prefix) and r.latency_ms == 0)

    floor = row("b3") if any(_is(r, "b3") for r in rows) else row("b")
    assert floor.cpu_ms_per_msg is not None
    ceiling_cpu, ours_cpu = row("a").cpu_ms_per_msg, row("d").cpu_ms_per_msg
    assert ceiling_cpu is not None
    assert ours_cpu is not None
    floor_job, exchange, ours = (
        floor.cpu_ms_per_msg["worker"],
        ceiling_cpu["here"],
        ours_cpu["worker"],
    )
    at_most = 1000 / (floor_job + exchange)
    return {
        "floor": _letter(floor),
        "floor_worker_ms_per_job": floor_job,
        "ceiling_client_ms_per_exchange": exchange,
        "d_worker_ms_per_msg": ours,
        "d_beyond_both_ms_per_msg": round(ours - floor_job - exchange, 3),
        "d_at_most_msgs_per_s": round(at_most, 1),
        "d_at_most_ratio_to_floor": round(at_most / floor.msgs_per_s, 2),
        # The same bound by CPU alone (the floor's job over the job plus the exchange), and what
        # a worker at 0.8 of the floor could spend on a message beyond the floor's job.
        "d_at_most_cpu_ratio_to_floor": round(floor_job / (floor_job + exchange), 3),
        "room_at_0_8_of_floor_ms_per_msg": round(floor_job / 0.8 - floor_job, 3),
    }


def thread_cpu(rows: list[Row]) -> dict[str, dict[str, float]]:
    """Worker CPU per message by thread (ms) of the one-worker rows at 0 ms that have it."""
    return {
        _letter(r): {
            name.removeprefix("worker:"): ms
            for name, ms in sorted(r.cpu_ms_per_msg.items(), key=lambda item: -item[1])
            if name.startswith("worker:") and ms > 0
        }
        for r in rows
        if r.latency_ms == 0 and r.cpu_ms_per_msg and "worker:main" in r.cpu_ms_per_msg
    }


def paired_ratio(rows: list[Row], prefix: str, floor_letter: str, latency_ms: int = 0) -> float:
    """The median over the rounds of (prefix) / (floor), each taken in the same round at
    ``latency_ms`` (a slow spell of the machine then weighs on both sides of a ratio)."""
    ours = next(r for r in rows if _is(r, prefix) and r.latency_ms == latency_ms)
    floor = next(r for r in rows if _is(r, floor_letter) and r.latency_ms == latency_ms)
    if not ours.runs_msgs_per_s or not floor.runs_msgs_per_s:
        return ours.msgs_per_s / floor.msgs_per_s
    pairs = zip(ours.runs_msgs_per_s, floor.runs_msgs_per_s, strict=True)
    return statistics.median(o / f for o, f in pairs)


def like_for_like(rows: list[Row]) -> dict[str, float]:
    """(d) and (e) against the floor with the sms-dispatch worker's process settings (b3), paired
    by round as the targets are: how much of each ratio those settings make."""
    return {
        f"{letter}_to_b3": round(paired_ratio(rows, letter, "b3"), 2)
        for letter in ("d", "e")
        if any(_is(r, "b3") for r in rows)
    }


def _targets(rows: list[Row], counted: dict[str, Any] | None) -> list[dict[str, Any]]:
    def row(prefix: str, latency: int) -> Row:
        return next(r for r in rows if _is(r, prefix) and r.latency_ms == latency)

    def rate(prefix: str, latency: int) -> float:
        return row(prefix, latency).msgs_per_s

    def paired(prefix: str, floor: str = "b", latency: int = 0) -> float:
        return paired_ratio(rows, prefix, floor, latency)

    checks = [
        ("0 ms: (d) send_sms >= 2.5x (b)", paired("d"), 2.5),
        ("200 ms: (d) send_sms >= 2.5x (b)", paired("d", "b", 200), 2.5),
        ("0 ms: (d) send_sms >= 0.8 of (e) send_bulk", paired("d", "e"), 0.8),
        ("200 ms: (d) send_sms >= 0.8 of (e) send_bulk", paired("d", "e", 200), 0.8),
        ("0 ms: (d) >= 80% of (b)", paired("d"), 0.8),
        ("200 ms: (d) >= 80% of (b) at 0 ms", rate("d", 200) / rate("b", 0), 0.8),
        ("200 ms: (d) >= 40x (c)", rate("d", 200) / rate("c", 200), 40.0),
        ("0 ms: (e) >= 3x (b)", paired("e"), 3.0),
    ]
    out = [
        {"target": name, "ratio": round(value, 2), "needed": need, "met": value >= need}
        for name, value, need in checks
    ]
    paced = {_letter(r): r for r in rows if _letter(r) in ("g", "g0")}
    if {"g", "g0"} <= set(paced) and paced["g"].p99_ms and paced["g0"].p99_ms:
        # p99 enqueue-to-accepted at 5 msgs/s, this tree over the tree before shared jobs.
        worse = paced["g"].p99_ms / paced["g0"].p99_ms
        out.append(
            {
                "target": "5 msgs/s: p99 enqueue-to-accepted of (g) <= (g0), as a ratio <= 1",
                "ratio": round(worse, 2),
                "needed": 1,
                "met": worse <= 1,
            }
        )
    for letter, label in (("d", "send_sms"), ("e", "send_bulk")):
        ours = next(r for r in rows if _is(r, letter) and r.latency_ms == 0)
        floor = next(r for r in rows if _is(r, "b") and r.latency_ms == 0)
        assert ours.redis_commands_per_msg is not None
        assert floor.redis_commands_per_msg is not None
        beyond_commands = round(ours.redis_commands_per_msg - floor.redis_commands_per_msg, 2)
        checks_out = {
            "target": f"Redis commands per message beyond Celery's own ({letter} {label} - b, "
            "INFO commandstats) <= 12",
            "ratio": beyond_commands,
            "needed": 12,
            "met": beyond_commands <= 12,
        }
        out.append(checks_out)
    if counted:
        beyond = counted["beyond_celery_per_msg"]
        out.append(
            {
                "target": "Redis round trips per message beyond Celery's own <= 12",
                "ratio": beyond,
                "needed": 12,
                "met": beyond <= 12,
            }
        )
    requests = [
        r.provider_requests_per_msg or 0.0 for r in rows if _letter(r) in ("d", "e", "f", "d1")
    ]
    out.append(
        {
            "target": "provider requests per message == 1",
            "ratio": max(requests),
            "needed": 1,
            "met": all(q == 1 for q in requests),
        }
    )
    return out


def _median_run(runs: list[Row]) -> Row:
    """The run with the median rate (the lower middle one for an even count), with every run's
    rate kept beside it."""
    ordered = sorted(runs, key=lambda r: r.msgs_per_s)
    chosen = ordered[(len(ordered) - 1) // 2]
    chosen.runs_msgs_per_s = [r.msgs_per_s for r in runs]
    return chosen


def run_scenarios(
    stack: Stack, latency: int, args: argparse.Namespace, older: Path | None
) -> list[Row]:
    """Every scenario at one provider latency. The floor and sms-dispatch run ``--repeat``
    rounds, one of each per round (so a slow spell of the machine falls on all of them), and
    each reports its median run; the ceiling and the naive baseline run once. At 0 ms, with the
    tree of the code before shared jobs (``older``), (d0) too."""
    timed: list[Callable[[], Row]] = [
        lambda: _celery_baseline(stack, latency, args.count, naive=False),
    ]
    if latency == 0:
        timed.append(
            lambda: _celery_baseline(stack, 0, args.count, naive=False, reuse_clients=True)
        )
        timed.append(
            lambda: _celery_baseline(stack, 0, args.count, naive=False, as_sms_worker=True)
        )
    timed += [
        lambda: sms_dispatch(stack, latency, args.count, bulk=False, workers=1),
        lambda: sms_dispatch(stack, latency, args.count, bulk=True, workers=1),
        lambda: sms_dispatch(stack, latency, args.count, bulk=False, workers=2),
    ]
    ours = 3  # the last rows of timed: sms-dispatch's
    if latency == 0:
        timed.append(
            lambda: sms_dispatch(stack, 0, args.count, bulk=False, workers=1, guards=False)
        )
        ours += 1
    if latency == 0 and older is not None:
        timed.append(lambda: older_send_sms(stack, args.count, older))
        ours += 1
    runs: list[list[Row]] = [[] for _ in timed]
    for _ in range(args.repeat):
        for scenario, measure in enumerate(timed):
            runs[scenario].append(measure())
    medians = [_median_run(r) for r in runs]
    return [
        ceiling(stack, latency, args.count),
        *medians[: len(medians) - ours],
        _celery_baseline(stack, latency, args.naive_count, naive=True),
        *medians[-ours:],
    ]


def _summary(
    result: dict[str, Any], rows: list[Row], counted: dict[str, Any], soak: Row | None
) -> None:
    """Print the whole table, the targets and the CPU and Redis figures of a run."""
    print("\n" + _table(rows))
    for target in result["targets"]:
        verdict = "MET " if target["met"] else "MISS"
        print(f"{verdict} {target['target']}: {target['ratio']} (needed {target['needed']})")
    bound = result["cpu_bound"]
    if bound:
        floor = bound["floor"]
        print(
            f"CPU per message at 0 ms: ({floor}) worker {bound['floor_worker_ms_per_job']} ms a "
            f"job, (a) client {bound['ceiling_client_ms_per_exchange']} ms an exchange, "
            f"(d) worker {bound['d_worker_ms_per_msg']} ms "
            f"({bound['d_beyond_both_ms_per_msg']} ms beyond both); a worker spending only the "
            f"two would reach {bound['d_at_most_msgs_per_s']} msgs/s, "
            f"{bound['d_at_most_ratio_to_floor']} of ({floor}) "
            f"({bound['d_at_most_cpu_ratio_to_floor']} by CPU alone); 0.8 of ({floor}) leaves "
            f"{bound['room_at_0_8_of_floor_ms_per_msg']} ms a message beyond its job"
        )
    for letter, by_thread in result["worker_cpu_by_thread"].items():
        spent = ", ".join(f"{name} {ms}" for name, ms in by_thread.items())
        print(f"Worker CPU by thread at 0 ms, ({letter}), ms a message: {spent}")
    if result["guards_cost"]:
        print(
            "Single sends with every guard on against all off, (d) / (d1) at 0 ms paired by "
            f"round: {result['guards_cost']['d_to_d1']}"
        )
    if result["like_for_like"]:
        ratios = result["like_for_like"]
        print(
            f"Against the floor with the sms worker's process settings (b3), paired by round: "
            f"(d) {ratios['d_to_b3']}, (e) {ratios['e_to_b3']}"
        )
    ours, floor = counted["sms_dispatch"], counted["floor"]
    print(
        f"Redis round trips per message (MONITOR, {counted['count']} messages): "
        f"floor {floor['per_msg']}, sms-dispatch {ours['per_msg']} "
        f"(+{ours['in_scripts_per_msg']} inside scripts), "
        f"beyond Celery's own {counted['beyond_celery_per_msg']}"
    )
    print(
        "Commands inside scripts the guards at the door add (every guard on, against all off, "
        f"{counted['count']} messages sent one by one): {counted['guards_in_scripts_per_msg']} "
        "a message"
    )
    if soak:
        print(f"soak: {soak.count} messages, RSS {soak.rss_before_mb} -> {soak.rss_after_mb} MB")


def main() -> None:
    configure_logging("json", "WARNING")  # this process enqueues: no line per message
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--count", type=int, default=5000, help="messages per sms-dispatch / floor / ceiling run"
    )
    parser.add_argument(
        "--naive-count", type=int, default=300, help="messages per naive run (it is slow)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="job threads of every Celery worker (the sms-dispatch worker's default)",
    )
    parser.add_argument(
        "--in-flight",
        type=int,
        default=512,
        help="sends in flight: the worker's max_in_flight (its default) and the ceiling client's",
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=500,
        help="messages each run sends first, untimed and uncounted (the naive run: a sixth of "
        "its count at most)",
    )
    parser.add_argument("--latencies", type=int, nargs="+", default=[0, 200])
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of the floor and sms-dispatch runs; each row is its median run",
    )
    parser.add_argument(
        "--soak", type=int, default=0, help="also send this many through (e) for RSS"
    )
    parser.add_argument(
        "--paced-rate", type=float, default=5.0, help="messages a second of the (g) rows"
    )
    parser.add_argument(
        "--paced-count", type=int, default=100, help="messages a round of the (g) rows"
    )
    parser.add_argument(
        "--opt-outs",
        type=int,
        default=100_000,
        help="entries on the opt-out list in every run (every message is checked against it)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results.json")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="smsd-bench-") as tmp:
        stack = Stack(
            Path(tmp), args.concurrency, args.in_flight, args.warm_up, opt_outs=args.opt_outs
        )
        older = tree_before_shared_jobs(Path(tmp))
        try:
            for latency in args.latencies:
                stack.start_simulator(latency)
                rows += run_scenarios(stack, latency, args, older)
                print(_table([r for r in rows if r.latency_ms == latency]), flush=True)
            stack.start_simulator(0)
            paced_at = paced_rows(stack, args, older)
            rows += paced_at
            print(_table(paced_at), flush=True)
            counted = count_commands(stack, 300)
            soak = None
            if args.soak:
                stack.start_simulator(0)
                soak = sms_dispatch(stack, 0, args.soak, bulk=True, workers=1)
        finally:
            stack.close()
    result = {
        "command": "make bench",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "concurrency": args.concurrency,
        "in_flight": args.in_flight,
        "warm_up": args.warm_up,
        "opt_outs": args.opt_outs,
        "guards": GUARDS_ON,
        "rows": [asdict(r) for r in rows],
        "redis_round_trips": counted,
        "targets": _targets(rows, counted) if set(args.latencies) >= {0, 200} else [],
        "cpu_bound": cpu_bound(rows) if 0 in args.latencies else None,
        "like_for_like": like_for_like(rows) if 0 in args.latencies else None,
        "guards_cost": (
            {"d_to_d1": round(paired_ratio(rows, "d", "d1"), 3)} if 0 in args.latencies else None
        ),
        "worker_cpu_by_thread": thread_cpu(rows),
        "soak": asdict(soak) if soak else None,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    _summary(result, rows, counted, soak)
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
