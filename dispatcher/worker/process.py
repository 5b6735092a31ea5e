"""The worker process: its runtime (providers, status store, loop bridge, background threads:
the delay-queue mover, status callbacks, status lookups, the flusher).

The runtime is built on first use in the process that runs jobs (``smsdispatch worker`` builds it
before Celery starts, so a provider with missing credentials or an unknown kind stops the worker
at once with the setting to fix); its background threads start when Celery says the worker is
ready, and all of it is closed when Celery shuts the worker down (:mod:`dispatcher.worker.start`).
"""

from __future__ import annotations

import os
import socket
import threading

from celery import Celery

from dispatcher.config.dev_state import resolve_redis_address
from dispatcher.config.provider_adapters import build_providers
from dispatcher.config.settings import Settings, get_settings
from dispatcher.core.names import HEARTBEAT_TASK, SEND_READY_TASK, canary_queue
from dispatcher.logs import get_logger, register_secrets
from dispatcher.queueing.abandoned_jobs import restore_abandoned_jobs
from dispatcher.queueing.celery_app import get_celery_app
from dispatcher.queueing.job_payloads import job_template
from dispatcher.sending.delay_queue_mover import Canary, DelayScheduler
from dispatcher.sending.pipeline import SendPipeline
from dispatcher.sending.report_poller import ReportPoller
from dispatcher.sending.send_bridge import SendBridge
from dispatcher.sending.send_path import build_send_path
from dispatcher.sending.status_callbacks import CallbackSender
from dispatcher.store.callback_queue import CallbackQueue
from dispatcher.store.connection import RedisClient, connect_redis
from dispatcher.store.delay_queue import DelayQueue
from dispatcher.store.heartbeats import Heartbeat
from dispatcher.store.messages import MessageStore
from dispatcher.store.report_deadlines import ReportDeadlines
from dispatcher.store.report_polls import ReportPolls
from dispatcher.worker.count_flusher import Flusher

__all__ = ["WorkerRuntime", "close_worker_runtime", "worker_runtime"]

# How long past the longest provider conversation a stopping worker waits for its sends.
_DRAIN_GRACE_S = 3.0


class WorkerRuntime:
    """Everything one worker process needs to deliver messages."""

    def __init__(self, settings: Settings, app: Celery) -> None:
        register_secrets(settings.secret_values())
        providers = build_providers(settings)
        redis_address = resolve_redis_address(settings)
        self.bridge = SendBridge(
            connections_per_provider=settings.worker.connections_per_provider,
            callbacks_public_only=not settings.callbacks.allow_private_networks,
        )
        client = connect_redis(redis_address)
        self.store = MessageStore.for_settings(client, settings)
        self.worker_name = f"{socket.gethostname()}.{os.getpid()}"
        self.heartbeat = Heartbeat(client, self.worker_name)
        self.scheduler = self._scheduler(settings, app, connect_redis(redis_address))
        self.path = build_send_path(
            settings,
            client=client,
            store=self.store,
            providers=providers,
            gates_fast_path_ms=settings.worker.gates_cache_ms,
            buffer_counts=True,
            reference_asker=self.bridge,
        )
        self._flusher = Flusher(
            settings.worker.report_flush_s, self.path.gates.flush, self.path.counts.flush
        )
        self.pipeline = SendPipeline(
            self.path,
            self.bridge,
            max_in_flight=settings.worker.max_in_flight,
            finishers=settings.worker.finishers,
            finish_linger_ms=settings.worker.finish_linger_ms,
            ready_template=job_template(app, SEND_READY_TASK),
            ready_take=settings.messages.bulk_job_size,
        )
        self._drain_s = self.path.plans.longest_conversation_s + _DRAIN_GRACE_S
        self.callbacks = CallbackSender(
            CallbackQueue(client),
            self.bridge,
            settings.callbacks,
            poll_interval_s=settings.scheduler.poll_interval_s,
            inbound_url=settings.inbound.callback_url,
        )
        self.poller = ReportPoller(
            self.path.plans,
            self.bridge,
            ReportPolls(client),
            self.store,
            interval_s=settings.delivery_reports.poll_interval_s,
            resend=settings.resend_rules(),
        )

    def _scheduler(self, settings: Settings, app: Celery, client: RedisClient) -> DelayScheduler:
        """The delay-queue mover, with this worker's canary and the sweeps for lost jobs."""
        return DelayScheduler(
            DelayQueue(client, job_template(app), job_template(app, SEND_READY_TASK)),
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
            orphan_after_ms=settings.worker.claim_deadline_s * 1000,
            report_deadlines=ReportDeadlines(
                client, body_retention_s=settings.messages.body_retention_s
            ),
        )

    def start_background(self) -> None:
        """The delay-queue mover (and heartbeat), the status-callback sender, the status
        lookups, the flusher."""
        self.scheduler.start()
        self.callbacks.start()
        self.poller.start()
        self._flusher.start()

    def close(self) -> None:
        """Record the sends in flight, then stop the threads, the loop and the connections."""
        if not self.pipeline.drain(self._drain_s):
            get_logger().warning("worker.sends_left_in_flight", count=self.pipeline.in_flight)
        self._flusher.stop()
        self.poller.stop()
        self.callbacks.stop()
        self.scheduler.stop()
        self.bridge.close()
        self.store.close()


_lock = threading.Lock()
_runtime: WorkerRuntime | None = None
_runtime_pid: int | None = None


def worker_runtime() -> WorkerRuntime:
    """This process's runtime, built on first use (and again in a forked child)."""
    global _runtime, _runtime_pid  # noqa: PLW0603 - one runtime per process, built lazily
    with _lock:
        if _runtime is None or _runtime_pid != os.getpid():
            _runtime = WorkerRuntime(get_settings(), get_celery_app())
            _runtime_pid = os.getpid()
        return _runtime


def close_worker_runtime() -> None:
    """Close this process's runtime, if it built one."""
    global _runtime  # noqa: PLW0603
    with _lock:
        if _runtime is not None and _runtime_pid == os.getpid():
            _runtime.close()
            _runtime = None
