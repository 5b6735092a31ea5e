"""The worker process: its runtime (providers, status store, loop bridge) and its start-up.

The runtime is built on first use in the process that runs jobs; its delay-queue scheduler starts
when Celery says the worker is ready, and all of it is closed when Celery shuts the worker down.
``smsdispatch worker`` builds it before Celery starts, so a provider with missing credentials or
an unknown kind stops the worker at once with the setting to fix.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Sequence

from celery import signals

from dispatcher.config.provider_adapters import build_providers
from dispatcher.config.settings import Settings, get_settings, resolve_redis_url
from dispatcher.logs import configure_logging, get_logger, register_secrets
from dispatcher.queueing.celery_app import HEARTBEAT_TASK, get_celery_app, sms_queue
from dispatcher.sending.courier import Courier
from dispatcher.sending.delay_queue_mover import (
    Canary,
    DelayScheduler,
    job_template,
    restore_abandoned_jobs,
)
from dispatcher.sending.pipeline import SendPipeline
from dispatcher.sending.send_bridge import SendBridge
from dispatcher.sending.status_callbacks import CallbackSender
from dispatcher.store.heartbeats import Heartbeat, canary_queue
from dispatcher.store.messages import MessageStore, connect_redis
from dispatcher.worker.count_flusher import Flusher
from dispatcher.worker.cpu_pinning import pin_to_a_free_cpu
from dispatcher.worker.gc_settings import settle_collector

__all__ = ["WorkerRuntime", "run_worker", "worker_runtime"]

# How long past the longest provider conversation a stopping worker waits for its sends.
_DRAIN_GRACE_S = 3.0


class WorkerRuntime:
    """Everything one worker process needs to deliver messages."""

    def __init__(self, settings: Settings) -> None:
        register_secrets(settings.secret_values())
        providers = build_providers(settings)
        redis_url = resolve_redis_url(settings)
        self.bridge = SendBridge(
            connections_per_provider=settings.worker.connections_per_provider,
            callbacks_public_only=not settings.callbacks.allow_private_networks,
        )
        self.store = MessageStore(
            connect_redis(redis_url), retention_s=settings.messages.retention_s
        )
        self.worker_name = f"{socket.gethostname()}.{os.getpid()}"
        self.heartbeat = Heartbeat(self.store.redis, self.worker_name)
        app = get_celery_app()
        self.scheduler = DelayScheduler(
            connect_redis(redis_url),
            job_template(app),
            poll_interval_s=settings.scheduler.poll_interval_s,
            batch_size=settings.scheduler.batch_size,
            canary=Canary(
                worker_name=self.worker_name,
                queue=canary_queue(self.worker_name),
                template=job_template(app, HEARTBEAT_TASK),
                every_ms=int(settings.worker.heartbeat_s * 1000),
            ),
            restore_jobs=lambda: restore_abandoned_jobs(app),
            restore_every_ms=settings.celery.unacked_restore_interval_s * 1000,
            orphan_after_ms=settings.celery.visibility_timeout_s * 1000,
        )
        self.courier = Courier(
            settings=settings,
            store=self.store,
            providers=providers,
            exchanger=self.bridge,
            gates_fast_path_ms=settings.worker.gates_cache_ms,
            buffer_counts=True,
        )
        self._flusher = Flusher(
            settings.worker.report_flush_s, self.courier.gates.flush, self.courier.counts.flush
        )
        self.pipeline = SendPipeline(
            self.courier,
            self.bridge,
            max_in_flight=settings.worker.max_in_flight,
            finishers=settings.worker.finishers,
            finish_linger_ms=settings.worker.finish_linger_ms,
        )
        self._drain_s = self.courier.longest_conversation_s + _DRAIN_GRACE_S
        self.callbacks = CallbackSender(
            self.store.redis,
            self.bridge,
            settings.callbacks,
            poll_interval_s=settings.scheduler.poll_interval_s,
        )

    def start_background(self) -> None:
        """The delay-queue mover (and heartbeat) and the status-callback sender."""
        self.scheduler.start()
        self.callbacks.start()
        self._flusher.start()

    def close(self) -> None:
        """Record the sends in flight, then stop the threads, the loop and the connections."""
        if not self.pipeline.drain(self._drain_s):
            get_logger().warning("worker.sends_left_in_flight", count=self.pipeline.in_flight)
        self._flusher.stop()
        self.callbacks.stop()
        self.scheduler.stop()
        self.bridge.close()
        self.store.redis.close()


_lock = threading.Lock()
_runtime: WorkerRuntime | None = None
_runtime_pid: int | None = None


def worker_runtime() -> WorkerRuntime:
    """This process's runtime, built on first use (and again in a forked child)."""
    global _runtime, _runtime_pid  # noqa: PLW0603 - one runtime per process, built lazily
    with _lock:
        if _runtime is None or _runtime_pid != os.getpid():
            _runtime = WorkerRuntime(get_settings())
            _runtime_pid = os.getpid()
        return _runtime


@signals.worker_ready.connect  # type: ignore[untyped-decorator]
def _on_worker_ready(**_: object) -> None:
    worker_runtime().start_background()
    frozen = settle_collector(get_settings().worker.gc_young_threshold)
    get_logger().info("worker.collector_settled", frozen_objects=frozen)


@signals.worker_shutdown.connect  # type: ignore[untyped-decorator]
def _close_runtime(**_: object) -> None:
    global _runtime  # noqa: PLW0603
    with _lock:
        if _runtime is not None and _runtime_pid == os.getpid():
            _runtime.close()
            _runtime = None


def run_worker(
    *,
    concurrency: int | None,
    queues: Sequence[str] | None,
    loglevel: str,
    extra_args: Sequence[str],
) -> None:
    """Start a Celery worker with the ``threads`` pool and sms-dispatch's defaults."""
    settings = get_settings()
    configure_logging(settings.log.format, settings.log.level)
    if settings.worker.pin_cpu:  # before any thread starts: each inherits the pinning
        cpu = pin_to_a_free_cpu()
        get_logger().info("worker.cpu_pinned", cpu=cpu)
    runtime = worker_runtime()  # fail fast on a broken provider entry, before consuming anything
    canary = canary_queue(runtime.worker_name)
    app = get_celery_app()
    app.conf.task_queues = [*app.conf.task_queues, sms_queue(canary)]
    chosen_queues = [*(queues or settings.worker.queues), canary]
    argv = [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency or settings.worker.concurrency}",
        f"--queues={','.join(chosen_queues)}",
        f"--loglevel={loglevel}",
        f"--hostname=smsd-{os.getpid()}@%h",
        "--events",
        "--without-gossip",
        "--without-mingle",
        *extra_args,
    ]
    get_logger().info("worker.starting", queues=chosen_queues, pid=os.getpid())
    app.worker_main(argv)
