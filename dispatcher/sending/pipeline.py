"""The worker's send pipeline: a job thread claims and admits, the event loop sends, a finisher
records.

A Celery job thread runs :meth:`Admitter.begin` (claim the send lease, route, admit) and hands the
provider exchange to the worker's event loop, then returns, so Celery acknowledges the job while
the SMS is still on its way. The loop runs up to ``worker.max_in_flight`` exchanges at once; when
one ends, a finisher thread runs :meth:`Concluder.conclude` (report the attempt, decide) and
records it.
A provider that takes 200 ms to answer so holds no job thread for those 200 ms, and a worker with
a handful of job threads keeps hundreds of sends in flight.

Nothing is lost by acknowledging early: from the claim on, the message is ``sending`` under a
lease in Redis and listed as in flight in ``smsd:pending``. If the worker dies before the attempt is
recorded, the lease runs out and the delay-queue scheduler of any worker publishes the message
again (flagged ``possible_duplicate``), as it does for a sender that died mid-send.

A finisher judges each send that ended (reports it to its provider's gates, decides) and records
all the ones waiting, up to 64, in one Redis round trip. When fewer are waiting and other sends
are still under way it first waits ``worker.finish_linger_ms`` for more: jobs that come one at a
time end one at a time, and a round trip (and a thread waking) per message costs more than the
few milliseconds. A send that ended with no other under way is recorded at once: nothing waits
for company that cannot come.

A finisher that cannot reach Redis tries again (a Redis restart takes seconds) until the lease
would have run out; after that the message is left to that recovery. On shutdown the pipeline
waits for the sends in flight to be recorded before the loop and sessions close.
"""

from __future__ import annotations

import collections
import queue
import threading
import time

from dispatcher.errors import StoreUnavailableError
from dispatcher.logs import get_logger
from dispatcher.sending.background_thread import BackgroundThread
from dispatcher.sending.conclusion import Concluded
from dispatcher.sending.pending_send import PendingSend
from dispatcher.sending.reconciliation import Reconciled
from dispatcher.sending.send_bridge import SendBridge
from dispatcher.sending.send_path import SendPath
from dispatcher.store.messages import Claim
from providers.transport import SendOutcome

__all__ = ["SendPipeline"]

_FINISH_RETRY_S = 0.5
# Sends that ended are recorded together, as many as are waiting, up to this many a round trip.
_FINISH_BATCH = 64

# A send that ended: what began it, what it ended with, and when it started (perf_counter).
_Finished = tuple[PendingSend, SendOutcome | BaseException, float]


class _Room:
    """Room for ``size`` sends; a batch takes its room at once or waits. A give wakes the
    waiters only once there is room for the smallest of them (not on every send that ends)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._changed = threading.Condition()
        self._wanted: collections.Counter[int] = collections.Counter()

    def take(self, count: int) -> None:
        with self._changed:
            if self._free < count:
                self._wanted[count] += 1
                try:
                    self._changed.wait_for(lambda: self._free >= count)
                finally:
                    self._wanted[count] -= 1
                    if not self._wanted[count]:
                        del self._wanted[count]
            self._free -= count

    def take_up_to(self, count: int) -> int:
        """Room for at least one send and at most ``count``, as much as is free; how much."""
        with self._changed:
            if self._free < 1:
                self._wanted[1] += 1
                try:
                    self._changed.wait_for(lambda: self._free >= 1)
                finally:
                    self._wanted[1] -= 1
                    if not self._wanted[1]:
                        del self._wanted[1]
            taken = min(self._free, count)
            self._free -= taken
            return taken

    def give(self, count: int) -> None:
        if count <= 0:
            return
        with self._changed:
            self._free += count
            if self._wanted and self._free >= min(self._wanted):
                self._changed.notify_all()


class SendPipeline:
    """Sends handed from job threads to the loop, recorded by finisher threads."""

    def __init__(
        self,
        path: SendPath,
        bridge: SendBridge,
        *,
        max_in_flight: int,
        finishers: int,
        finish_linger_ms: int = 0,
        ready_template: str = "",
        ready_take: int = 50,
    ) -> None:
        self._admitter = path.admitter
        self._concluder = path.concluder
        self._lease_s = path.plans.lease_ms / 1000
        self._linger_s = finish_linger_ms / 1000
        self._bridge = bridge
        self._room = _Room(max_in_flight)
        self._ready_template = ready_template
        self._ready_take = ready_take
        self._finished: queue.SimpleQueue[_Finished | None] = queue.SimpleQueue()
        self._finishers = [
            BackgroundThread(
                f"sms-finisher-{i}",
                self._finish_loop,
                join_timeout_s=10,
                wake=lambda: self._finished.put(None),  # each ends after what is queued before it
            )
            for i in range(finishers)
        ]
        for thread in self._finishers:
            thread.start()
        self._idle = threading.Condition()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        """Sends handed to the loop and not yet recorded."""
        return self._in_flight

    def dispatch_many(self, message_ids: list[str], *, task_id: str | None = None) -> list[str]:
        """:meth:`dispatch` for the messages of a batch job: room in the pipeline is taken for
        all of them at once, so no lease runs while its message waits for room (and two batch
        jobs never hold part of the room each, waiting for the other); then their leases are
        claimed in one step."""
        outcomes: list[str] = []
        for start in range(0, len(message_ids), self._room.size):
            part = message_ids[start : start + self._room.size]
            self._room.take(len(part))
            try:
                claims = self._admitter.claim_many(part)
            except BaseException:
                self._room.give(len(part))
                raise
            outcomes += self._begin_claimed(list(zip(part, claims, strict=True)), task_id)
        return outcomes

    def dispatch_ready(self, queue: str, *, task_id: str | None = None) -> int:
        """The job of a ready list: take as many messages from the head of ``queue``'s list as
        there is room for in the pipeline (at least one, at most ``ready_take``), their leases
        claimed in the same step (which queues the list's next job when messages are left), then
        begin each. Waits only for room for one: nothing waits to fill a batch. How many were
        taken."""
        if not self._ready_template:
            raise RuntimeError("this pipeline was built without the job of a ready list")
        room = self._room.take_up_to(self._ready_take)
        try:
            taken = self._admitter.take_ready(
                queue, count=room, ready_template=self._ready_template
            )
        except BaseException:
            self._room.give(room)
            raise
        self._room.give(room - len(taken))
        self._begin_claimed(taken, task_id)
        return len(taken)

    def _begin_claimed(self, claimed: list[tuple[str, Claim]], task_id: str | None) -> list[str]:
        """With room taken for all of ``claimed`` (ids with their claims): begin each; if one
        raises, the room of those not begun is given back."""
        outcomes: list[str] = []
        try:
            asked = self._admitter.reconcile_many([claim for _, claim in claimed])
        except BaseException:
            self._room.give(len(claimed))
            raise
        for index, ((message_id, claim), reconciled) in enumerate(zip(claimed, asked, strict=True)):
            try:
                outcomes.append(self._begin_in_room(message_id, task_id, claim, (reconciled,)))
            except BaseException:
                self._room.give(len(claimed) - index - 1)
                raise
        return outcomes

    def dispatch(self, message_id: str, *, task_id: str | None = None) -> str:
        """Begin the delivery of ``message_id`` and leave its exchange to the loop; returns what
        happened (``sending`` when the exchange is under way). A full pipeline holds the job
        thread until there is room, so the worker takes no more jobs than its prefetch."""
        self._room.take(1)
        return self._begin_in_room(message_id, task_id, None)

    def _begin_in_room(
        self,
        message_id: str,
        task_id: str | None,
        claim: Claim | None,
        asked: tuple[Reconciled | None] | None = None,
    ) -> str:
        """With room taken in the pipeline: begin (``asked``: what asking for the message came
        to, when it was asked already), and hand the exchange to the loop (the room is given
        back when the attempt is recorded, or at once when there is nothing to send)."""
        try:
            begun = self._admitter.begin(
                message_id,
                task_id=task_id,
                claim=claim,
                reconciled=asked[0] if asked else None,
                asked=asked is not None,
            )
        except BaseException:
            self._room.give(1)
            raise
        if isinstance(begun, str):
            self._room.give(1)
            return begun
        with self._idle:
            self._in_flight += 1
        started = time.perf_counter()

        def then(outcome: SendOutcome | BaseException) -> None:
            self._finished.put((begun, outcome, started))

        try:
            self._bridge.send_then(begun.provider, begun.sms, then)
        except BaseException:
            self._done()
            raise
        return "sending"

    def _finish_loop(self) -> None:
        while (item := self._finished.get()) is not None:
            batch = [item]
            ending = self._take_waiting(batch)
            if (
                not ending
                and len(batch) < _FINISH_BATCH
                and self._linger_s > 0
                and self._in_flight > len(batch)
            ):
                # Sends end one by one when jobs come one by one: waiting a moment for the
                # ones about to end records them in the same round trip. With none other under
                # way (a quiet spell, a lone message) nothing can come: record at once.
                time.sleep(self._linger_s)
                ending = self._take_waiting(batch)
            self._finish(batch)
            if ending:
                return

    def _take_waiting(self, batch: list[_Finished]) -> bool:
        """Add the ended sends waiting (up to a batch) to ``batch``; whether the end came."""
        while len(batch) < _FINISH_BATCH:
            try:
                more = self._finished.get_nowait()
            except queue.Empty:
                return False
            if more is None:
                return True
            batch.append(more)
        return False

    def _finish(self, batch: list[_Finished]) -> None:
        """Judge each send of ``batch`` that ended, then record them all in one round trip."""
        concluded: list[Concluded] = []
        try:
            for pending, outcome, started in batch:
                latency_ms = int((time.perf_counter() - started) * 1000)
                if isinstance(outcome, BaseException):
                    # The exchange itself failed (an adapter's bug): the lease recovers it.
                    get_logger(message_id=pending.sms.message_id).error(
                        "sms.finish_failed", error=type(outcome).__name__
                    )
                    continue
                try:
                    concluded.append(self._conclude(pending, outcome, latency_ms))
                except Exception as exc:  # one message's fault must not stop the others
                    get_logger(message_id=pending.sms.message_id).exception(
                        "sms.finish_failed", error=type(exc).__name__
                    )
            if concluded:
                self._record(concluded)
        except Exception as exc:  # a finisher must go on whatever one batch does
            get_logger().exception(
                "sms.finish_failed", error=type(exc).__name__, messages=len(batch)
            )
        finally:
            for _ in batch:
                self._done()

    def _conclude(self, pending: PendingSend, outcome: SendOutcome, latency_ms: int) -> Concluded:
        """Judge one send; when Redis is out of reach for its provider's gates, judge it without
        reporting to them (the attempt is still recorded, by :meth:`_record`)."""
        try:
            return self._concluder.conclude(pending, outcome, latency_ms=latency_ms)
        except StoreUnavailableError:
            return self._concluder.conclude(
                pending, outcome, latency_ms=latency_ms, report_to_gates=False
            )

    def _record(self, concluded: list[Concluded]) -> None:
        """Record the concluded sends, trying again while Redis is unreachable, until the lease
        would have run out (then the scheduler publishes the messages again). Each was reported
        to its provider's gates once, when it was concluded."""
        give_up_at = time.monotonic() + self._lease_s
        while True:
            try:
                self._concluder.record(concluded)
            except StoreUnavailableError as exc:
                if time.monotonic() + _FINISH_RETRY_S >= give_up_at:
                    get_logger().error(
                        "sms.finish_failed", error=exc.error, messages=len(concluded)
                    )
                    return
                time.sleep(_FINISH_RETRY_S)
            else:
                return

    def _done(self) -> None:
        self._room.give(1)
        with self._idle:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.notify_all()

    def drain(self, timeout_s: float) -> bool:
        """Wait until every send in flight is recorded (at most ``timeout_s``); then stop the
        finishers. Whether all were."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._in_flight > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._idle.wait(left)
            drained = self._in_flight == 0
        for thread in self._finishers:
            thread.signal_stop()
        if drained:
            for thread in self._finishers:
                thread.join()
        return drained
