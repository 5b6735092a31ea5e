"""The opt-out list as operators and inbound keywords keep it, shared by the Python API, the
HTTP API (``/v1/opt-outs``) and the CLI (``smsdispatch opt-out``).

A number on the list gets no message it is checked against (:mod:`dispatcher.core.opt_outs`):
``send_sms`` refuses it at the door (:class:`~dispatcher.errors.OptedOut`), and a message waiting
when its number opts out ends ``failed`` with reason ``opted_out`` at its next claim, before any
send. Numbers are checked as ``send_sms`` checks a destination; under ``opt_out.scope =
"global"`` an entry is for every sender, and naming one is refused.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dispatcher.config.settings import Settings
from dispatcher.core.clock import now_ms
from dispatcher.core.masking import mask_number
from dispatcher.core.opt_outs import message_digests, sender_key
from dispatcher.errors import InvalidMessage
from dispatcher.intake.validation import validate_number, validate_sender
from dispatcher.logs import get_logger
from dispatcher.store.opt_outs import OptOutEntry, OptOutList

__all__ = ["ImportResult", "OptOuts", "entry_view"]

# A line of an import file that is refused is reported with its reason, up to this many.
_MAX_REPORTED = 100


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What an import did: numbers put on the list, already there, and the lines refused."""

    added: int
    already: int
    refused_count: int
    refused: list[dict[str, Any]]  # the first of them, with their line and reason


def entry_view(entry: OptOutEntry) -> dict[str, Any]:
    """An entry as the API and the CLI show it to operators (the number in full: they keep the
    list); an erased number shows as null."""
    return {
        "number": entry.number or None,
        "sender": entry.sender or None,
        "source": entry.source,
        "keyword": entry.keyword or None,
        "at_ms": entry.at_ms,
    }


class OptOuts:
    """The opt-out list of one deployment, with its settings."""

    def __init__(
        self,
        settings: Settings,
        opt_out_list: OptOutList,
        *,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._settings = settings
        self._list = opt_out_list
        self._clock_ms = clock_ms

    def _checked(self, number: object, sender: object) -> tuple[str, str]:
        """The number in E.164 and the entry's sender key; InvalidMessage naming the field."""
        e164 = validate_number(number, self._settings.messages.default_region)
        if sender in (None, ""):
            return e164, ""
        if self._settings.opt_out.scope == "global":
            raise InvalidMessage(
                {"sender": 'opt_out.scope is "global": an entry is for every sender'}
            )
        return e164, sender_key(validate_sender(sender))

    def add(
        self, number: object, sender: object = None, *, source: str = "api", keyword: str = ""
    ) -> tuple[bool, OptOutEntry]:
        """Put ``number`` on the list (for ``sender``, under sender scope); whether it was not
        on it before, and its entry."""
        e164, key = self._checked(number, sender)
        entry = OptOutEntry(e164, key, source, self._clock_ms(), keyword)
        added = self._list.add([entry]) == 1
        get_logger(to=mask_number(e164)).info(
            "sms.opt_out_added" if added else "sms.opt_out_kept", source=source
        )
        return added, (entry if added else self._list.get(e164, key) or entry)

    def remove(self, number: object, sender: object = None, *, source: str = "api") -> bool:
        """Take ``number`` off the list (for ``sender``); False when it was not on it."""
        e164, key = self._checked(number, sender)
        removed = self._list.remove(e164, key, source=source)
        if removed:
            get_logger(to=mask_number(e164)).info("sms.opt_out_removed", source=source)
        return removed

    def get(self, number: object, sender: object = None) -> OptOutEntry | None:
        e164, key = self._checked(number, sender)
        return self._list.get(e164, key)

    def blocks(self, number: object, sender: object = None) -> bool:
        """Whether a message to ``number`` from ``sender`` would be refused for an opt-out: the
        entries the door checks it against (:func:`~dispatcher.core.opt_outs.message_digests`)."""
        scope = self._settings.opt_out.scope
        e164, key = self._checked(number, None if scope == "global" else sender)
        return self._list.holds_any(message_digests(e164, key, scope=scope))

    def page(self, *, cursor: int = 0, count: int = 100) -> dict[str, Any]:
        """One page of the list: ``{"opt_outs": [...], "next_cursor": n | None, "total": n}``."""
        next_cursor, entries = self._list.page(cursor=cursor, count=count)
        return {
            "opt_outs": [entry_view(e) for e in entries],
            "next_cursor": next_cursor or None,
            "total": self._list.count(),
        }

    def import_numbers(self, lines: Iterable[str], *, source: str = "import") -> ImportResult:
        """Put every number of ``lines`` on the list: one a line, optionally ``number,sender``;
        blank lines and lines starting with ``#`` are skipped. A bad line is reported with its
        reason and does not stop the others."""
        entries: list[OptOutEntry] = []
        refused: list[dict[str, Any]] = []
        refused_count = 0
        at = self._clock_ms()
        for place, line in enumerate(lines, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            number, _, sender = (part.strip() for part in text.partition(","))
            try:
                e164, key = self._checked(number, sender or None)
            except InvalidMessage as exc:
                refused_count += 1
                if len(refused) < _MAX_REPORTED:
                    refused.append({"line": place, "error": str(exc), "fields": exc.fields})
                continue
            entries.append(OptOutEntry(e164, key, source, at))
        added = self._list.add(entries)
        get_logger().info("sms.opt_outs_imported", added=added, refused=refused_count)
        return ImportResult(added, len(entries) - added, refused_count, refused)
