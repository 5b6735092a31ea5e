"""The recorded message and its attempts, as they are kept in the status store."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from dispatcher.core.countries import region_of
from dispatcher.core.masking import mask_number
from dispatcher.core.states import MessageState

__all__ = ["Attempt", "MessageRecord", "record_region"]


def _optional_str(value: int | None) -> str | None:
    return None if value is None else str(value)


def _optional_int(value: str | None) -> int | None:
    return None if value in (None, "") else int(value)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to a provider, and what came of it."""

    number: int
    provider: str
    started_at_ms: int
    latency_ms: int
    outcome: str  # an OutcomeKind value
    http_status: int | None = None
    provider_code: str | None = None
    reason: str = ""
    provider_message_id: str | None = None
    possible_duplicate: bool = False
    task_id: str | None = None
    next_provider: str | None = None  # set when this attempt made the message fail over
    # What asking the provider for the message by our reference, before this attempt, came to:
    # found (the attempt is that finding: nothing was sent), not_found, lookup_failed.
    reconciled: str | None = None
    # The attempt reported undelivered for a passing reason that this one sends again.
    resend_of: int | None = None
    # What it cost, in micro-units of spend.currency: its segments at the provider's price when
    # the provider took it (accepted) or may have (ambiguous); 0 otherwise.
    cost_micros: int = 0

    def to_json(self) -> str:
        # Its fields are all scalars: no deep copy (asdict) needed.
        return json.dumps(
            {name: getattr(self, name) for name in _ATTEMPT_FIELDS}, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> Attempt:
        return cls(**json.loads(raw))


_ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """A message as the store holds it."""

    id: str
    to: str
    body: str
    sender: str | None
    priority: str
    encoding: str
    segments: int
    state: MessageState
    created_at_ms: int
    updated_at_ms: int
    valid_until_ms: int
    attempt_count: int = 0
    providers: tuple[str, ...] = ()
    callback_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    idempotency_scope: str | None = None  # the API key name an idempotency key belongs to
    fingerprint: str = ""
    provider: str | None = None
    provider_message_id: str | None = None
    final_reason: str | None = None  # a code: rejected, attempts_exhausted, expired, ...
    final_detail: str | None = None  # the provider's words or ours
    possible_duplicate: bool = False
    next_attempt_at_ms: int | None = None
    replay_of: str | None = None
    replayed_as: str | None = None
    # Providers this message has moved away from (provider_error, or its retry budget spent).
    providers_left: tuple[str, ...] = ()
    # Attempts in a row on ``provider``, the last provider tried.
    provider_attempts: int = 0
    # A rate-limit slot this message holds on a provider, while it waits in the delay queue.
    slot_provider: str | None = None
    slot_at_ms: int | None = None
    # What the provider's delivery report said: its own status word, the reason, and when.
    report_status: str | None = None
    report_reason: str | None = None
    reported_at_ms: int | None = None
    callback_failed: bool = False  # a status callback to callback_url was given up
    category: str = "transactional"  # transactional | marketing (dispatcher.core.categories)
    # Status lookups made at a provider that reports only when asked (hash field ``polls``).
    status_lookups: int = 0
    # Sent once more after this attempt was reported undelivered for a passing reason.
    resend_of_attempt: int | None = None
    # The opt-out entries (digests) the message is checked against at the door and at each
    # claim (dispatcher.core.opt_outs); none when no opt-out applies to it.
    opt_out_check: tuple[str, ...] = ()
    send_at_ms: int | None = None  # scheduled: claimed no earlier than this
    converted_at_ms: int | None = None  # when the web app reported it used (report_conversion)
    campaign: str | None = None  # the campaign tag it was sent with
    # Typographic characters of the body were replaced to send it as GSM-7 (body: as sent).
    smart_encoded: bool = False
    # Spend caps (dispatcher.core.spend_caps): the amount reserved at the door and not yet
    # settled (micro-units; None: none open), the counters it was reserved in, the UTC day of
    # the reservation ("20261204"), and what its attempts cost so far.
    spend_held: int | None = None
    spend_counters: tuple[str, ...] = ()
    # The ISO 3166 region of ``to``, from the door ("" on records older than it).
    region: str = ""
    spend_day: str | None = None
    spend_billed: int = 0

    def to_hash(self) -> dict[str, str]:
        """The Redis hash fields of this record (empty optional fields are left out)."""
        fields: dict[str, str] = {
            "id": self.id,
            "to": self.to,
            "body": self.body,
            "priority": self.priority,
            "encoding": self.encoding,
            "segments": str(self.segments),
            "state": self.state.value,
            "created_at_ms": str(self.created_at_ms),
            "updated_at_ms": str(self.updated_at_ms),
            "valid_until_ms": str(self.valid_until_ms),
            "attempt_count": str(self.attempt_count),
            "providers": json.dumps(list(self.providers)),
            "metadata": json.dumps(self.metadata, separators=(",", ":")),
            "fingerprint": self.fingerprint,
            "possible_duplicate": "1" if self.possible_duplicate else "0",
            "providers_left": ",".join(self.providers_left),
            "provider_attempts": str(self.provider_attempts),
            "category": self.category,
        }
        optional = {
            "sender": self.sender,
            "callback_url": self.callback_url,
            "idempotency_key": self.idempotency_key,
            "idempotency_scope": self.idempotency_scope,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "final_reason": self.final_reason,
            "final_detail": self.final_detail,
            "next_attempt_at_ms": _optional_str(self.next_attempt_at_ms),
            "replay_of": self.replay_of,
            "replayed_as": self.replayed_as,
            "slot_provider": self.slot_provider,
            "slot_at_ms": _optional_str(self.slot_at_ms),
            "report_status": self.report_status,
            "report_reason": self.report_reason,
            "reported_at_ms": _optional_str(self.reported_at_ms),
            "callback_failed": "1" if self.callback_failed else None,
            "polls": str(self.status_lookups) if self.status_lookups else None,
            "resend_of_attempt": _optional_str(self.resend_of_attempt),
            "opt_out_check": ",".join(self.opt_out_check) or None,
            "send_at_ms": _optional_str(self.send_at_ms),
            "converted_at_ms": _optional_str(self.converted_at_ms),
            "campaign": self.campaign,
            "smart_encoded": "1" if self.smart_encoded else None,
            "spend_held": _optional_str(self.spend_held),
            "region": self.region or None,
            "spend_counters": ",".join(self.spend_counters) or None,
            "spend_day": self.spend_day,
            "spend_billed": str(self.spend_billed) if self.spend_billed else None,
        }
        fields.update({k: v for k, v in optional.items() if v is not None})
        return fields

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> MessageRecord:
        return cls(
            id=raw["id"],
            to=raw["to"],
            body=raw.get("body", ""),  # dropped once final (messages.body_retention_s)
            sender=raw.get("sender"),
            priority=raw["priority"],
            encoding=raw["encoding"],
            segments=int(raw["segments"]),
            state=MessageState(raw["state"]),
            created_at_ms=int(raw["created_at_ms"]),
            updated_at_ms=int(raw["updated_at_ms"]),
            valid_until_ms=int(raw["valid_until_ms"]),
            attempt_count=int(raw.get("attempt_count", "0")),
            providers=tuple(json.loads(raw.get("providers", "[]"))),
            callback_url=raw.get("callback_url"),
            metadata=json.loads(raw.get("metadata", "{}")),
            idempotency_key=raw.get("idempotency_key"),
            idempotency_scope=raw.get("idempotency_scope"),
            fingerprint=raw.get("fingerprint", ""),
            provider=raw.get("provider"),
            provider_message_id=raw.get("provider_message_id"),
            final_reason=raw.get("final_reason"),
            final_detail=raw.get("final_detail"),
            possible_duplicate=raw.get("possible_duplicate") == "1",
            next_attempt_at_ms=_optional_int(raw.get("next_attempt_at_ms")),
            replay_of=raw.get("replay_of"),
            replayed_as=raw.get("replayed_as"),
            providers_left=tuple(p for p in raw.get("providers_left", "").split(",") if p),
            provider_attempts=int(raw.get("provider_attempts", "0")),
            slot_provider=raw.get("slot_provider") or None,
            slot_at_ms=_optional_int(raw.get("slot_at_ms")),
            report_status=raw.get("report_status") or None,
            report_reason=raw.get("report_reason") or None,
            reported_at_ms=_optional_int(raw.get("reported_at_ms")),
            callback_failed=raw.get("callback_failed") == "1",
            category=raw.get("category") or "transactional",
            status_lookups=int(raw.get("polls") or "0"),
            resend_of_attempt=_optional_int(raw.get("resend_of_attempt")),
            opt_out_check=tuple(d for d in raw.get("opt_out_check", "").split(",") if d),
            send_at_ms=_optional_int(raw.get("send_at_ms")),
            converted_at_ms=_optional_int(raw.get("converted_at_ms")),
            campaign=raw.get("campaign") or None,
            smart_encoded=raw.get("smart_encoded") == "1",
            spend_held=_optional_int(raw.get("spend_held")),
            region=raw.get("region", ""),
            spend_counters=tuple(c for c in raw.get("spend_counters", "").split(",") if c),
            spend_day=raw.get("spend_day") or None,
            spend_billed=int(raw.get("spend_billed") or "0"),
        )

    def public_view(self, attempts: list[Attempt]) -> dict[str, Any]:
        """What ``get_status`` shows: everything but the body, the number masked."""
        return {
            "id": self.id,
            "state": self.state.value,
            "to": mask_number(self.to),
            "priority": self.priority,
            "category": self.category,
            "encoding": self.encoding,
            "segments": self.segments,
            "smart_encoded": self.smart_encoded,
            "cost": self.spend_billed / 1_000_000,
            "provider": self.provider,
            "provider_message_id": self.provider_message_id,
            "attempt_count": self.attempt_count,
            "attempts": [asdict(a) for a in attempts],
            "created_at_ms": self.created_at_ms,
            "updated_at_ms": self.updated_at_ms,
            "valid_until_ms": self.valid_until_ms,
            "final_reason": self.final_reason,
            "final_detail": self.final_detail,
            "possible_duplicate": self.possible_duplicate,
            "providers_left": list(self.providers_left),
            "next_attempt_at_ms": self.next_attempt_at_ms,
            "replay_of": self.replay_of,
            "replayed_as": self.replayed_as,
            "metadata": self.metadata,
            "delivery_report": (
                None
                if self.reported_at_ms is None
                else {
                    "provider_status": self.report_status,
                    "reason": self.report_reason,
                    "at_ms": self.reported_at_ms,
                }
            ),
            "status_lookups": self.status_lookups,
            "resend_of_attempt": self.resend_of_attempt,
            "send_at_ms": self.send_at_ms,
            "converted_at_ms": self.converted_at_ms,
            "campaign": self.campaign,
            "callback_url": self.callback_url,
            "callback_failed": self.callback_failed,
        }


def record_region(record: MessageRecord) -> str:
    """The ISO 3166 region of a message's number: its record's, else read from the number."""
    return record.region or region_of(record.to)
