"""The order a worker looks at its queues: priority first, with a share for the lower ones.

kombu's Redis transport fetches with one ``BRPOP`` over all of a worker's queues, which takes from
the first non-empty queue in the order given. Its default order rotates after every fetch (every
queue gets an equal turn, so ``sms.high`` waits behind ``sms.bulk``); its ``priority`` order never
rotates (so ``sms.bulk`` starves while ``sms.high`` has work).

:class:`PriorityShareCycle` puts one queue first on each fetch, chosen by smooth weighted round
robin over ``worker.queue_shares`` (default 8 : 3 : 1), and the others after it in priority order.
When every queue has work, fetches split by share; when a queue is empty, its turn falls to the
next in priority order, so a ``high`` message is taken at the next fetch whatever the backlog of
``bulk``. It is plugged in as the transport's ``queue_order_strategy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from dispatcher.config.settings import get_settings
from dispatcher.core.names import CANARY_PREFIX, PRIORITY_QUEUES

__all__ = ["PriorityShareCycle", "queue_rank"]

_PRIORITY_ORDER = list(PRIORITY_QUEUES.values())


def queue_rank(queue: str) -> int:
    """-1 for the worker's own canary queue (a job every few seconds, never behind a backlog),
    0 for ``sms.high``, 1 for ``sms.normal``, 2 for ``sms.bulk``; other queues after them."""
    if queue.startswith(CANARY_PREFIX):
        return -1
    return _PRIORITY_ORDER.index(queue) if queue in _PRIORITY_ORDER else len(_PRIORITY_ORDER)


class PriorityShareCycle:
    """A kombu queue cycle (``update`` / ``consume`` / ``rotate``) with priority shares."""

    def __init__(
        self, it: list[str] | None = None, *, shares: Mapping[str, int] | None = None
    ) -> None:
        if shares is None:  # kombu builds the cycle without arguments
            shares = get_settings().worker.queue_shares
        self._shares = dict(shares)
        self.items: list[str] = []
        self._credit: dict[str, int] = {}
        self.update(it or [])

    def update(self, it: Iterable[str]) -> None:
        """Take the queues the worker consumes now (kombu passes an unordered set)."""
        self.items[:] = sorted(set(it), key=lambda q: (queue_rank(q), q))
        self._credit = {q: self._credit.get(q, 0) for q in self.items}

    def _lead(self, queues: list[str]) -> str:
        # Smooth weighted round robin: every queue gains its share, the richest leads and pays
        # back the total, so leads interleave (h h n h h b h n ...) rather than come in runs.
        total = 0
        for queue in queues:
            share = self._shares.get(queue, 1)
            self._credit[queue] += share
            total += share
        lead = max(queues, key=lambda q: (self._credit[q], -queue_rank(q)))
        self._credit[lead] -= total
        return lead

    def consume(self, n: int) -> list[str]:
        """The queues in the order of this fetch (the canary queue always first)."""
        if not self.items:
            return []
        canaries = [q for q in self.items if queue_rank(q) < 0]
        shared = [q for q in self.items if queue_rank(q) >= 0]
        if not shared:
            return canaries[:n]
        lead = self._lead(shared)
        return [*canaries, lead, *(q for q in shared if q != lead)][:n]

    def rotate(self, last_used: str) -> str:
        """kombu calls this after a fetch; the order is decided in :meth:`consume`."""
        return last_used
