"""Dead letters: messages that were rejected, ran out of attempts, or outlived their validity.

A dead letter is the message record itself (with every attempt: provider, HTTP status, provider
code and text, outcome, latency, time, and the final reason), kept without expiry and indexed in
``smsd:dead`` by when it was dead-lettered. Nothing leaves the store except by a replay (a new
message with a fresh attempt budget, linked both ways to the original:
:func:`dispatcher.intake.replay.replay_dead_letter`) or :meth:`DeadLetters.purge`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dispatcher.core.decisions import FinalReason
from dispatcher.core.message_record import MessageRecord
from dispatcher.errors import NotADeadLetterError
from dispatcher.store.messages import MessageStore

__all__ = [
    "DeadLetterFilter",
    "DeadLetters",
    "dead_letter_filter_problems",
]

_SCAN_CHUNK = 500


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters to list: by provider, final reason, and dead-lettered since (epoch ms)."""

    provider: str | None = None
    reason: str | None = None
    since_ms: int | None = None

    def matches(self, record: MessageRecord, dead_at_ms: int) -> bool:
        return (
            (self.provider is None or record.provider == self.provider)
            and (self.reason is None or record.final_reason == self.reason)
            and (self.since_ms is None or dead_at_ms >= self.since_ms)
        )


# A provider name as config spells it (a provider since removed from config keeps its letters).
_PROVIDER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def dead_letter_filter_problems(provider: str | None, reason: str | None) -> dict[str, str]:
    """What is wrong with a filter's provider and reason, by field (empty when nothing)."""
    problems: dict[str, str] = {}
    if provider is not None and not _PROVIDER_NAME.fullmatch(provider):
        problems["provider"] = "must be a provider name (letters, digits, _ and -, at most 64)"
    if reason is not None and reason not in {r.value for r in FinalReason}:
        problems["reason"] = f"must be one of {', '.join(r.value for r in FinalReason)}"
    return problems


class DeadLetters:
    """What operators do with the dead letters: count, list, show, purge."""

    def __init__(self, store: MessageStore) -> None:
        self._store = store

    def count(self) -> int:
        return self._store.dead_letter_count()

    def _scan(self, wanted: DeadLetterFilter) -> Iterator[tuple[MessageRecord, int]]:
        """Matching dead letters, newest first."""
        start = 0
        while True:
            page = self._store.dead_letter_ids(start=start, count=_SCAN_CHUNK)
            if not page:
                return
            records = self._store.get_many([message_id for message_id, _ in page])
            for (_, dead_at_ms), record in zip(page, records, strict=True):
                if record is not None and wanted.matches(record, dead_at_ms):
                    yield record, dead_at_ms
            if wanted.since_ms is not None and page[-1][1] < wanted.since_ms:
                return  # newest first: everything further is older than `since`
            start += len(page)

    def page(
        self, wanted: DeadLetterFilter = DeadLetterFilter(), *, offset: int = 0, limit: int = 50
    ) -> list[dict[str, Any]]:
        """A page of matching dead letters, newest first, as short summaries."""
        rows: list[dict[str, Any]] = []
        for index, (record, dead_at_ms) in enumerate(self._scan(wanted)):
            if index < offset:
                continue
            if len(rows) >= limit:
                break
            rows.append(self._summary(record, dead_at_ms))
        return rows

    @staticmethod
    def _summary(record: MessageRecord, dead_at_ms: int) -> dict[str, Any]:
        view = record.public_view([])
        del view["attempts"]
        view["dead_lettered_at_ms"] = dead_at_ms
        return view

    def show(self, message_id: str) -> dict[str, Any]:
        """The whole dead letter: the message (number masked, no body) and every attempt."""
        dead_at_ms = self._store.dead_lettered_at_ms(message_id)
        found = self._store.get(message_id) if dead_at_ms is not None else None
        if dead_at_ms is None or found is None:
            raise NotADeadLetterError(message_id)
        record, attempts = found
        view = record.public_view(attempts)
        view["dead_lettered_at_ms"] = dead_at_ms
        view["length"] = len(record.body)
        return view

    def matching_ids(self, wanted: DeadLetterFilter) -> list[str]:
        """Every matching dead letter's id, newest first."""
        return [record.id for record, _ in self._scan(wanted)]

    def purge(self, message_id: str) -> None:
        """Delete a dead letter for good."""
        if not self._store.purge(message_id):
            raise NotADeadLetterError(message_id)
