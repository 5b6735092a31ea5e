"""The Celery application on Redis, built lazily from the settings.

Web apps build it when they first publish, the worker when it starts (``smsdispatch worker``,
which registers its tasks on it). Nothing connects at import time.

Choices:
- one queue per priority (``sms.high``, ``sms.normal``, ``sms.bulk``): Redis priorities in Celery
  are coarse and inverted, separate queues are not; a worker fetches them in priority order with
  a share for the lower ones (:mod:`dispatcher.queueing.queue_order`);
- JSON only; no result backend (the status store is ours);
- ``acks_late`` with ``reject_on_worker_lost``: a job is acknowledged after it ran, and a killed
  worker's jobs are redelivered (the send lease and the state check make a redelivery safe);
- a job that raised is rejected without requeueing (``task_acks_on_failure_or_timeout`` off), so
  a send job that could not reach Redis requeues itself (:mod:`dispatcher.worker.tasks`);
- the visibility timeout is one setting (``celery.visibility_timeout_s``) used for the broker and
  checked against the longest provider timeout at start; each worker looks for jobs left by dead
  workers every ``celery.unacked_restore_interval_s``;
- task events on, so Flower and the Celery exporter work;
- one Redis client per broker connection pool (:mod:`dispatcher.queueing.broker_clients`);
- a lost broker retried every second (:mod:`dispatcher.queueing.prompt_reconnect`).
"""

from __future__ import annotations

import functools
import urllib.parse
from typing import Any

from celery import Celery
from kombu.entity import Exchange, Queue

from dispatcher.config.dev_state import resolve_redis_address
from dispatcher.config.redis_address import RedisAddress
from dispatcher.config.settings import Settings, get_settings
from dispatcher.core.names import PRIORITY_QUEUES
from dispatcher.queueing.broker_clients import reuse_broker_clients
from dispatcher.queueing.broker_guard import guard_detached_channels

__all__ = [
    "broker_url_for",
    "build_celery_app",
    "celery_config",
    "get_celery_app",
    "sms_queue",
]


def sms_queue(name: str) -> Queue:
    """A queue on the ``sms`` direct exchange, routed by its own name."""
    return Queue(name, Exchange("sms", type="direct"), routing_key=name)  # type: ignore[no-untyped-call]


def broker_url_for(address: RedisAddress | str) -> str:
    """The broker URL for kombu of a redis-py URL (or of a Sentinel address).

    kombu spells a unix socket ``redis+socket://``; redis-py spells it ``unix://``. For
    ``rediss://`` without ``ssl_cert_reqs``, redis-py checks the server's certificate but kombu
    would not check it at all; ``ssl_cert_reqs=required`` makes the broker check it too (an
    explicit ``ssl_cert_reqs`` in the URL is kept as given). A ``sentinel://`` URL gets the
    database in every part, so kombu reaches the database the store does.
    """
    if isinstance(address, RedisAddress):
        if address.is_sentinel:
            return address.broker_url()
        address = address.url
    redis_url = address
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://")
    if redis_url.startswith("rediss://"):
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(redis_url).query)
        if "ssl_cert_reqs" not in query:
            return redis_url + ("&" if "?" in redis_url else "?") + "ssl_cert_reqs=required"
    return redis_url


def celery_config(settings: Settings, address: RedisAddress | str) -> dict[str, Any]:
    """The Celery settings of sms-dispatch."""
    if isinstance(address, str):
        address = settings.redis_address(address)
    visibility_timeout_s = settings.celery.visibility_timeout_s
    return {
        "broker_url": broker_url_for(address),
        "broker_transport_options": {
            "visibility_timeout": visibility_timeout_s,
            # Look for jobs taken by a dead worker every interval (kombu's throttle would make
            # it ten intervals).
            "unacked_restore_interval": settings.celery.unacked_restore_interval_s,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 5,
            # A command to a master that hangs gives up instead of waiting for ever (celery
            # #6348); the consumer's BRPOP, which no socket timeout covers, is dropped by
            # kombu's own check once its answer is health_check_interval overdue.
            "socket_timeout": 10,
            "socket_keepalive": True,
            "health_check_interval": 10,
            "retry_on_timeout": True,
            # sms.high first, with a share of fetches for the lower queues.
            "queue_order_strategy": "dispatcher.queueing.queue_order:PriorityShareCycle",
            **_sentinel_options(address),
        },
        # A master demoted in a failover answers READONLY, a channel error: without this,
        # Celery takes it for an unrecoverable one and the worker stops (celery #7946).
        "broker_channel_error_retry": True,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,
        # Retry a lost broker every second, not kombu's 2, 4, 6 ... 30 s.
        "worker_consumer": "dispatcher.queueing.prompt_reconnect:PromptReconnectConsumer",
        "broker_pool_limit": 16,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "result_backend": None,
        "task_ignore_result": True,
        "task_store_errors_even_if_ignored": False,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": False,
        "task_default_queue": PRIORITY_QUEUES["normal"],
        "task_default_exchange": "sms",
        "task_queues": [sms_queue(name) for name in PRIORITY_QUEUES.values()],
        "task_create_missing_queues": False,
        "worker_prefetch_multiplier": settings.worker.prefetch_multiplier,
        "worker_send_task_events": True,
        "worker_redirect_stdouts": False,
        "worker_hijack_root_logger": False,
        "worker_disable_rate_limits": True,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "enable_utc": True,
        "timezone": "UTC",
    }


def _sentinel_options(address: RedisAddress) -> dict[str, Any]:
    """kombu's transport options for a master its Sentinels name (none for one server)."""
    if not address.is_sentinel:
        return {}
    sentinel_kwargs: dict[str, Any] = {"socket_connect_timeout": 5, "socket_timeout": 5}
    if address.sentinel_password:
        sentinel_kwargs["password"] = address.sentinel_password
    return {
        "master_name": address.master,
        "sentinel_kwargs": sentinel_kwargs,
        # A consumer's BRPOP on a master that hangs is dropped once its answer is this overdue
        # (checked as often), and any other command given up after socket_timeout (the
        # consumer flushes its task events to the old master before it reconnects): the worker
        # then asks the Sentinels for the new master within seconds.
        "health_check_interval": 3,
        "socket_timeout": 3,
    }


def build_celery_app(settings: Settings, redis_url: RedisAddress | str) -> Celery:
    """A configured Celery app. It has no tasks: a process that publishes needs none (the jobs
    are written by the store's scripts), and the worker registers its own
    (:func:`dispatcher.worker.tasks.register_tasks`)."""
    app = Celery("sms_dispatch", set_as_current=False)
    app.conf.update(celery_config(settings, redis_url))
    guard_detached_channels()  # a worker keeps consuming after Redis restarts
    reuse_broker_clients()  # not a new redis.Redis per event and acknowledgement
    return app


@functools.lru_cache(maxsize=1)
def get_celery_app() -> Celery:
    """The Celery app of this process, built from the settings on first use."""
    settings = get_settings()
    return build_celery_app(settings, resolve_redis_address(settings))
