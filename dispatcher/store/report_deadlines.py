"""Accepted messages waiting for their final delivery report (``smsd:awaiting_reports``, scored by
when they stop waiting): the finish of an accepted send adds one, a final report removes it, and
every worker's delay-queue mover ends the overdue ones ``delivery_unknown``, so no message stays
``accepted`` for ever. A report that comes later still applies (``apply_report.lua``). The same
sweep drops the bodies of final messages whose ``messages.body_retention_s`` is over
(``smsd:body_drops``, filled by the scripts that end a message)."""

from __future__ import annotations

import redis

from dispatcher.store.connection import translates_redis_errors
from dispatcher.store.lua_scripts import register_script
from dispatcher.store.redis_keys import (
    AWAITING_REPORTS,
    BODY_DROPS,
    CALLBACKS,
    MESSAGE_PREFIX,
    METRICS,
)

__all__ = ["ReportDeadlines"]


class ReportDeadlines:
    """Ends the messages whose wait for a delivery report is over."""

    def __init__(self, client: redis.Redis, *, body_retention_s: int = 0) -> None:
        self._end = register_script(client, "end_unreported")
        self._drop_bodies = register_script(client, "drop_bodies")
        self._body_retention_ms = body_retention_s * 1000

    @translates_redis_errors
    def end_overdue(self, *, now_ms: int, batch_size: int) -> int:
        """Up to ``batch_size`` messages still ``accepted`` past their wait ended
        ``delivery_unknown``, in one step; how many."""
        return int(
            self._end(
                keys=[AWAITING_REPORTS, CALLBACKS, METRICS, BODY_DROPS],
                args=[now_ms, batch_size, MESSAGE_PREFIX, self._body_retention_ms],
            )
        )

    @translates_redis_errors
    def drop_due_bodies(self, *, now_ms: int, batch_size: int) -> int:
        """Drop the bodies of up to ``batch_size`` final messages whose retention is over."""
        return int(self._drop_bodies(keys=[BODY_DROPS], args=[now_ms, batch_size, MESSAGE_PREFIX]))
