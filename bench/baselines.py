"""The baselines' Celery apps, on the same broker settings as sms-dispatch.

- ``noop``: the floor of the queue: a task that does nothing but record that it ran (threads pool,
  same concurrency, same broker settings as the sms-dispatch worker).
- ``naive``: what people usually write first: the prefork pool at its default concurrency, and in
  each task ``asyncio.run`` with a new ``aiohttp.ClientSession`` for one POST to the provider.

With ``BENCH_REUSE_BROKER_CLIENTS=1`` the process keeps one Redis client per broker connection
pool, as the sms-dispatch worker does (:mod:`dispatcher.queueing.broker_clients`): the benchmark's
(b2) row, the floor with that change, beside the stock floor (b) that the targets use. With
``BENCH_AS_SMS_WORKER=1`` it also takes the sms-dispatch worker's other process settings: pinned
to one free CPU (:mod:`dispatcher.worker.cpu_pinning`) and, once ready, the collector's
(:mod:`dispatcher.worker.gc_settings`): the (b3) row, the floor like for like.

Run as ``celery -A bench.baselines:noop worker ...`` / ``celery -A bench.baselines:naive ...``;
the Redis URL and the simulator come from the environment (``SMSD_REDIS_URL``,
``SMSD_PROVIDERS__SINCH__BASE_URL`` / ``__API_TOKEN``), as for sms-dispatch.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import aiohttp
import redis
from celery import Celery, signals

from dispatcher.config.settings import get_settings
from dispatcher.queueing.broker_clients import reuse_broker_clients
from dispatcher.queueing.celery_app import celery_config
from dispatcher.worker.cpu_pinning import pin_to_a_free_cpu
from dispatcher.worker.gc_settings import settle_collector

DONE = "bench:done"  # list: one enqueue-to-done latency (ms) per finished task

_client: redis.Redis | None = None


def _redis() -> redis.Redis:
    global _client  # noqa: PLW0603 - one client per process, made after any fork
    if _client is None:
        _client = redis.Redis.from_url(os.environ["SMSD_REDIS_URL"])
    return _client


def _app(name: str) -> Celery:
    settings = get_settings()
    app = Celery(name, set_as_current=False)
    app.conf.update(celery_config(settings, os.environ["SMSD_REDIS_URL"]))
    return app


if os.environ.get("BENCH_REUSE_BROKER_CLIENTS") == "1":  # the (b2) and (b3) rows
    reuse_broker_clients()
if os.environ.get("BENCH_AS_SMS_WORKER") == "1":  # the (b3) row
    pin_to_a_free_cpu()  # before Celery starts a thread

    @signals.worker_ready.connect
    def _settle_collector(**_: object) -> None:
        settle_collector(get_settings().worker.gc_young_threshold)


noop = _app("bench_noop")
naive = _app("bench_naive")


@noop.task(name="bench.noop", ignore_result=True)
def noop_task(enqueued_ms: float) -> None:
    _redis().rpush(DONE, time.time() * 1000 - enqueued_ms)


async def _post_once(to: str) -> int:
    base = os.environ["SMSD_PROVIDERS__SINCH__BASE_URL"].rstrip("/")
    plan = get_settings().providers["sinch"].options()["service_plan_id"]
    token = os.environ["SMSD_PROVIDERS__SINCH__API_TOKEN"]
    # A new session (and connection) every time.
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{base}/xms/v1/{plan}/batches",
            json={"to": [to], "body": "bench"},
            headers={"Authorization": f"Bearer {token}"},
        ) as answer,
    ):
        await answer.read()
        return answer.status


@naive.task(name="bench.naive", ignore_result=True)
def naive_task(enqueued_ms: float, to: str) -> Any:
    status = asyncio.run(_post_once(to))
    _redis().rpush(DONE, time.time() * 1000 - enqueued_ms)
    return status
