"""What the simulator remembers: scripts per destination, latency, and the requests it received."""

from __future__ import annotations

import collections
import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["ReceivedRequest", "ScriptedAnswer", "SimulatorState"]

# Bounded so a long benchmark cannot grow the simulator without limit.
MAX_REMEMBERED_REQUESTS = 200_000


@dataclass(frozen=True, slots=True)
class ScriptedAnswer:
    """One answer the simulator gives instead of its normal success.

    ``status`` with ``body`` (JSON) or ``raw`` (text) and ``headers``; ``delay_ms`` before
    answering;
    ``success: true`` answers as the real API would on success, after ``delay_ms``.
    """

    status: int = 201
    body: Any = None
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: int = 0
    success: bool = False

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScriptedAnswer:
        allowed = {"status", "body", "raw", "headers", "delay_ms", "success"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown answer fields: {sorted(unknown)}")
        return cls(
            status=int(data.get("status", 201)),
            body=data.get("body"),
            raw=data.get("raw"),
            headers={str(k): str(v) for k, v in dict(data.get("headers") or {}).items()},
            delay_ms=int(data.get("delay_ms", 0)),
            success=bool(data.get("success", "status" not in data)),
        )


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A send the simulator received, as a test wants to check it."""

    provider: str
    path: str
    to: list[str]
    payload: Any
    authorization_ok: bool
    client_reference: str | None
    status: int
    provider_message_id: str | None
    received_at_ms: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class SimulatorState:
    """Scripts and memory shared by every personality of one simulator process."""

    def __init__(self, *, latency_ms: int = 0) -> None:
        self.latency_ms = latency_ms
        self._scripts: dict[str, collections.deque[ScriptedAnswer]] = {}
        self._repeat_last: dict[str, bool] = {}
        self.requests: collections.deque[ReceivedRequest] = collections.deque(
            maxlen=MAX_REMEMBERED_REQUESTS
        )
        self.sends_by_reference: collections.Counter[str] = collections.Counter()
        self.total_sends = 0
        self._outage: tuple[int, float | None] | None = None  # status, until (monotonic) or None

    def start_outage(self, status: int, *, seconds: float | None = None) -> None:
        """Answer every send with ``status`` for ``seconds`` (None: until ended)."""
        until = None if seconds is None else time.monotonic() + seconds
        self._outage = (status, until)

    def end_outage(self) -> None:
        self._outage = None

    def outage_status(self) -> int | None:
        """The status every send gets right now, if an outage is on."""
        if self._outage is None:
            return None
        status, until = self._outage
        if until is not None and time.monotonic() >= until:
            self._outage = None
            return None
        return status

    def script(self, to: str, answers: list[ScriptedAnswer], *, repeat_last: bool = False) -> None:
        """Answer sends to ``to`` with ``answers`` in order, then normally (or the last forever)."""
        self._scripts[to] = collections.deque(answers)
        self._repeat_last[to] = repeat_last

    def next_answer(self, to: str) -> ScriptedAnswer | None:
        """The scripted answer for this send to ``to``, or None for the normal success."""
        queue = self._scripts.get(to)
        if not queue:
            return None
        if len(queue) == 1 and self._repeat_last.get(to):
            return queue[0]
        return queue.popleft()

    def record(self, request: ReceivedRequest) -> None:
        self.requests.append(request)
        self.total_sends += 1
        if request.client_reference:
            self.sends_by_reference[request.client_reference] += 1

    def reset(self) -> None:
        self._outage = None
        self._scripts.clear()
        self._repeat_last.clear()
        self.requests.clear()
        self.sends_by_reference.clear()
        self.total_sends = 0

    def stats(self) -> dict[str, Any]:
        duplicates = {ref: n for ref, n in self.sends_by_reference.items() if n > 1}
        return {
            "total_sends": self.total_sends,
            "distinct_references": len(self.sends_by_reference),
            "duplicated_references": duplicates,
            "latency_ms": self.latency_ms,
            "outage_status": self.outage_status(),
        }

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)
