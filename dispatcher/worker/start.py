"""``smsdispatch worker``: a Celery worker with the ``threads`` pool and sms-dispatch's defaults.

Everything a worker does besides running Celery is set up here, when the worker starts, never
at import: its process settings (one CPU, the collector), its runtime (built before Celery
consumes anything), its tasks (registered with the runtime handed in), and the Celery signal
handlers that start the background threads once the worker is ready and close the runtime when
it shuts down.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from celery import signals

from dispatcher.config.settings import get_settings
from dispatcher.core.names import canary_queue
from dispatcher.logs import configure_logging, get_logger
from dispatcher.queueing.celery_app import get_celery_app, sms_queue
from dispatcher.worker.cpu_pinning import pin_to_a_free_cpu
from dispatcher.worker.gc_settings import settle_collector
from dispatcher.worker.process import close_worker_runtime, worker_runtime
from dispatcher.worker.tasks import register_tasks

__all__ = ["run_worker"]


def _on_worker_ready(**_: object) -> None:
    worker_runtime().start_background()
    frozen = settle_collector(get_settings().worker.gc_young_threshold)
    get_logger().info("worker.collector_settled", frozen_objects=frozen)


def _on_worker_shutdown(**_: object) -> None:
    close_worker_runtime()


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
    app = get_celery_app()
    register_tasks(app, worker_runtime)
    signals.worker_ready.connect(_on_worker_ready, weak=False)
    signals.worker_shutdown.connect(_on_worker_shutdown, weak=False)
    canary = canary_queue(runtime.worker_name)
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
