"""What the simulator remembers: scripts per destination, latency, and the requests it received."""

from __future__ import annotations

import collections
import time
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "REPORT_OUTCOMES",
    "TRANSPORT_FAULTS",
    "AcceptedMessage",
    "ReceivedRequest",
    "ScriptedAnswer",
    "SimulatorState",
]

# Bounded so a long benchmark cannot grow the simulator without limit.
MAX_REMEMBERED_REQUESTS = 200_000
_EVERY_PROVIDER = "*"
MAX_REMEMBERED_MESSAGES = 200_000
# What a delivery report says of a message the simulator accepted.
# What the handset's report says: delivered; failed for a reason the provider documents as
# permanent (an unknown number); failed for one it documents as passing (unreachable for now).
REPORT_OUTCOMES = frozenset({"delivered", "failed", "failed_temporarily"})
# How a scripted answer can break the HTTP exchange itself (see ScriptedAnswer).
TRANSPORT_FAULTS = frozenset({"stall_after_headers", "split_body", "close_mid_body", "huge_body"})


@dataclass(frozen=True, slots=True)
class ScriptedAnswer:
    """One answer the simulator gives instead of its normal success.

    - ``status`` with ``code``: the personality's own documented error body for that provider
      error code (Sinch ``"illegal_number_type"``, GoSMS ``2001``, Cecula ``1806`` inside a 200,
      Vonage ``"9"`` inside a 200, ...); with neither ``code`` nor ``body``: the body the provider
      documents for that status (Sinch's 404: none).
    - ``status`` with ``body`` (JSON) or ``raw`` (text) and ``headers``: exactly that.
    - ``success: true`` answers as the real API would on success (with ``status``: that 2xx
      instead, and no body for a 204); ``report`` then sets what the delivery report says later:
      ``"delivered"`` (the default) or ``"failed"``.
    - ``delay_ms`` before answering, in every case.
    - ``provider`` (a kind): only that personality gives this answer; the others answer normally
      and leave it in place (so a failover to another provider is seen to succeed).
    - ``fault`` breaks the exchange after the status line, with ``status``: ``stall_after_headers``
      (the headers and a few bytes, then nothing for ``stall_s``), ``split_body`` (``raw`` in two
      halves ``stall_s`` apart: a whole, valid answer that arrives slowly), ``close_mid_body`` (a
      ``Content-Length`` promised, part of it sent, the connection closed) or ``huge_body`` (a
      body of ``size_bytes``, 10 MiB by default, streamed).
    """

    status: int = 201
    body: Any = None
    raw: str | None = None
    code: str | int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: int = 0
    success: bool = False
    report: str = "delivered"
    success_status: int | None = None  # a success answered with this 2xx instead of the usual
    provider: str | None = None  # only this personality gives the answer
    fault: str | None = None
    stall_s: float = 30.0
    size_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScriptedAnswer:
        allowed = {
            "status",
            "body",
            "raw",
            "code",
            "headers",
            "delay_ms",
            "success",
            "report",
            "provider",
            "fault",
            "stall_s",
            "size_bytes",
        }
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown answer fields: {sorted(unknown)}")
        code = data.get("code")
        if code is not None and not isinstance(code, str | int):
            raise ValueError("code must be a string or an integer")
        fault = data.get("fault")
        if fault is not None and fault not in TRANSPORT_FAULTS:
            raise ValueError(f"fault must be one of {sorted(TRANSPORT_FAULTS)}")
        stall_s = float(data.get("stall_s", 30.0))
        size_bytes = int(data.get("size_bytes", 10 * 1024 * 1024))
        if not 0 < stall_s <= 600 or not 0 < size_bytes <= 100 * 1024 * 1024:
            raise ValueError("stall_s is 0-600 s and size_bytes at most 100 MiB")
        report = data.get("report", "delivered")
        if report not in REPORT_OUTCOMES:
            raise ValueError(f"report must be one of {sorted(REPORT_OUTCOMES)}")
        success = bool(data.get("success", "status" not in data))
        success_status = int(data["status"]) if success and "status" in data else None
        if success_status is not None and not 200 <= success_status < 300:
            raise ValueError("a success is answered with a 2xx status")
        return cls(
            status=int(data.get("status", 201)),
            body=data.get("body"),
            raw=data.get("raw"),
            code=code,
            headers={str(k): str(v) for k, v in dict(data.get("headers") or {}).items()},
            delay_ms=int(data.get("delay_ms", 0)),
            success=success,
            report=report,
            success_status=success_status,
            provider=None if data.get("provider") is None else str(data["provider"]),
            fault=fault,
            stall_s=stall_s,
            size_bytes=size_bytes,
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


@dataclass(frozen=True, slots=True)
class AcceptedMessage:
    """A message a personality accepted: what its status lookups and delivery reports tell."""

    provider: str
    provider_message_id: str
    to: str  # E.164 with +
    client_reference: str | None
    report: str  # "delivered" or "failed"
    accepted_at_ms: int
    callback_url: str | None  # where the provider's own protocol says to post the report

    def is_final(self, now_ms: int, report_delay_ms: int) -> bool:
        """Whether the handset has had its say (the report is due) by ``now_ms``."""
        return now_ms - self.accepted_at_ms >= report_delay_ms


class SimulatorState:
    """Scripts and memory shared by every personality of one simulator process."""

    def __init__(self, *, latency_ms: int = 0, report_delay_ms: int = 100) -> None:
        self.latency_ms = latency_ms
        self.report_delay_ms = report_delay_ms
        # Where to post delivery reports of providers whose callback URL is set in their panel
        # (not in the send request): provider kind -> URL, set through the control API.
        self.report_urls: dict[str, str] = {}
        self.messages: collections.OrderedDict[str, AcceptedMessage] = collections.OrderedDict()
        self._by_reference: collections.defaultdict[str, list[str]] = collections.defaultdict(list)
        self.reports_posted: collections.Counter[int] = collections.Counter()
        self.sessions_issued: collections.Counter[str] = collections.Counter()  # kind -> tokens
        self._scripts: dict[str, collections.deque[ScriptedAnswer]] = {}
        self._repeat_last: dict[str, bool] = {}
        self.requests: collections.deque[ReceivedRequest] = collections.deque(
            maxlen=MAX_REMEMBERED_REQUESTS
        )
        self.sends_by_reference: collections.Counter[str] = collections.Counter()
        self.total_sends = 0
        self.answering = 0  # sends received and not answered yet
        # provider kind (or every provider) -> status, until (monotonic) or None
        self._outages: dict[str, tuple[int, float | None]] = {}
        # Status lookups (GoSMS /sms/get, YellowPush /sms_edr, Sinch's List Batches) by provider
        # kind, and the status every lookup gets while lookups are made to fail.
        self.lookups: collections.Counter[str] = collections.Counter()
        self._lookup_failures: dict[str, int] = {}

    def fail_lookups(self, status: int | None, *, provider: str | None = None) -> None:
        """Answer every status lookup (at ``provider``, a kind, or at every personality) with
        ``status``; None ends it."""
        key = provider or _EVERY_PROVIDER
        if status is None:
            self._lookup_failures.pop(key, None)
        else:
            self._lookup_failures[key] = status

    def lookup_failure(self, provider: str) -> int | None:
        """The status a status lookup at ``provider`` gets right now, if lookups fail."""
        return self._lookup_failures.get(provider, self._lookup_failures.get(_EVERY_PROVIDER))

    def start_outage(
        self, status: int, *, seconds: float | None = None, provider: str | None = None
    ) -> None:
        """Answer every send with ``status`` for ``seconds`` (None: until ended), at every
        personality or only at ``provider`` (a kind, e.g. ``sinch``)."""
        until = None if seconds is None else time.monotonic() + seconds
        self._outages[provider or _EVERY_PROVIDER] = (status, until)

    def end_outage(self, provider: str | None = None) -> None:
        """End the outage of ``provider``, or every outage."""
        if provider is None:
            self._outages.clear()
        else:
            self._outages.pop(provider, None)

    def outage_status(self, provider: str | None = None) -> int | None:
        """The status every send to ``provider`` gets right now, if an outage is on."""
        for key in (provider or _EVERY_PROVIDER, _EVERY_PROVIDER):
            outage = self._outages.get(key)
            if outage is None:
                continue
            status, until = outage
            if until is not None and time.monotonic() >= until:
                del self._outages[key]
                continue
            return status
        return None

    def script(self, to: str, answers: list[ScriptedAnswer], *, repeat_last: bool = False) -> None:
        """Answer sends to ``to`` with ``answers`` in order, then normally (or the last forever)."""
        self._scripts[to] = collections.deque(answers)
        self._repeat_last[to] = repeat_last

    def next_answer(self, to: str, provider: str | None = None) -> ScriptedAnswer | None:
        """The scripted answer for this send to ``to`` at ``provider`` (a kind), or None for the
        normal success."""
        queue = self._scripts.get(to)
        if not queue:
            return None
        if queue[0].provider is not None and queue[0].provider != provider:
            return None
        if len(queue) == 1 and self._repeat_last.get(to):
            return queue[0]
        return queue.popleft()

    def record(self, request: ReceivedRequest) -> None:
        self.requests.append(request)
        self.total_sends += 1
        if request.client_reference:
            self.sends_by_reference[request.client_reference] += 1

    def remember(self, message: AcceptedMessage) -> None:
        self.messages[message.provider_message_id] = message
        if message.client_reference is not None:
            self._by_reference[message.client_reference].append(message.provider_message_id)
        while len(self.messages) > MAX_REMEMBERED_MESSAGES:
            _, gone = self.messages.popitem(last=False)
            if gone.client_reference is not None:
                self._by_reference.pop(gone.client_reference, None)

    def accepted_with_reference(
        self, provider: str, client_reference: str
    ) -> list[AcceptedMessage]:
        """The messages ``provider`` (a kind) accepted with ``client_reference``, oldest first."""
        found = (self.messages.get(pmid) for pmid in self._by_reference.get(client_reference, ()))
        return [m for m in found if m is not None and m.provider == provider]

    def accepted(self, provider_message_id: str) -> AcceptedMessage | None:
        return self.messages.get(provider_message_id)

    def reset(self) -> None:
        self._outages.clear()
        self._lookup_failures.clear()
        self.lookups.clear()
        self.report_urls.clear()
        self.messages.clear()
        self._by_reference.clear()
        self.reports_posted.clear()
        self.sessions_issued.clear()
        self._scripts.clear()
        self._repeat_last.clear()
        self.requests.clear()
        self.sends_by_reference.clear()
        self.total_sends = 0

    def stats(self) -> dict[str, Any]:
        duplicates = {ref: n for ref, n in self.sends_by_reference.items() if n > 1}
        return {
            "total_sends": self.total_sends,
            "answering": self.answering,
            "distinct_references": len(self.sends_by_reference),
            "duplicated_references": duplicates,
            "latency_ms": self.latency_ms,
            "outage_status": self.outage_status(),
            "sessions_issued": dict(self.sessions_issued),
            "reports_posted": {str(k): v for k, v in sorted(self.reports_posted.items())},
            "lookups": dict(self.lookups),
        }

    @staticmethod
    def now_ms() -> int:
        return int(time.time() * 1000)
