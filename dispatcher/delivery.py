"""The one place that decides what happens to a message, before and after an attempt. Pure.

Today: an accepted verdict records the message ``accepted`` with the provider's id; any other
verdict ends it ``failed`` with the reason; a message past its validity ends ``expired`` without
being sent; a message with no usable provider ends ``failed``.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatcher.records import MessageRecord
from dispatcher.states import MessageState
from providers.outcome import Verdict

__all__ = ["Decision", "SendPlan", "decide_after_attempt", "plan_send"]


@dataclass(frozen=True, slots=True)
class SendPlan:
    """Send now through ``provider``."""

    provider: str


@dataclass(frozen=True, slots=True)
class Decision:
    """The state a message moves to, and why."""

    state: MessageState
    reason: str | None = None
    provider_message_id: str | None = None

    def changes(self, provider: str | None) -> dict[str, str]:
        """The record fields this decision writes."""
        fields = {"state": self.state.value}
        if provider is not None:
            fields["provider"] = provider
        if self.provider_message_id is not None:
            fields["provider_message_id"] = self.provider_message_id
        if self.reason is not None:
            fields["final_reason"] = self.reason
        return fields


def plan_send(record: MessageRecord, route: tuple[str, ...], now_ms: int) -> SendPlan | Decision:
    """Before an attempt: send through the first provider of the route, or end the message."""
    if now_ms >= record.valid_until_ms:
        return Decision(MessageState.EXPIRED, reason="validity_passed_before_send")
    if not route:
        return Decision(MessageState.FAILED, reason="no_enabled_provider_for_route")
    return SendPlan(route[0])


def decide_after_attempt(verdict: Verdict) -> Decision:
    """After an attempt: accepted, or failed with the verdict's class and reason."""
    if verdict.is_accepted:
        return Decision(MessageState.ACCEPTED, provider_message_id=verdict.provider_message_id)
    code = f" ({verdict.provider_code})" if verdict.provider_code else ""
    return Decision(MessageState.FAILED, reason=f"{verdict.kind.value}: {verdict.reason}{code}")
