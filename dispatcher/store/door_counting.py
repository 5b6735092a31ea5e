"""What the guards at the door count new messages in, as the create script reads it, and what
the script answers of each message.

The pumping guard's windows and brakes (:mod:`dispatcher.core.velocity`,
:mod:`dispatcher.core.pumping_brake`) and the spend caps (:mod:`dispatcher.core.spend_caps`) are
judged and counted in ``create_messages.lua``, in the step that records the messages.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dispatcher.core.message_record import MessageRecord
from dispatcher.core.pumping_brake import BrakeRefusal, BrakeRules
from dispatcher.core.spend_caps import SpendCap, SpendPeriods
from dispatcher.core.velocity import VelocityCheck, VelocityRefusal, VelocityWindow
from dispatcher.store.redis_keys import PUMPING_BRAKES, spend_key, velocity_key

__all__ = ["CreateResult", "DoorCounting", "SpendRefusal", "create_result"]

_OPTED_OUT = 2  # create_messages.lua: a message refused, its number on the opt-out list
_OVER_LIMIT = 3  # a message refused by a limit of the pumping guard
_BRAKED = 4  # an OTP refused by its country's brake
_OVER_CAP = 5  # a message whose spend would pass a cap

# How long a month's spend counters are kept (seconds): for stats and settling.
_MONTH_TTL_S = 400 * 86_400


@dataclass(frozen=True, slots=True)
class SpendRefusal:
    """A message a spend cap had no room for: the cap's period and counter, the spend found."""

    period: str  # "day" | "month"
    counter: str
    spent: int
    limit: int

    @classmethod
    def parse(cls, text: str) -> SpendRefusal:
        period, counter, spent, limit = text.split("|")
        return cls(period, counter, int(float(spent)), int(float(limit)))


@dataclass(frozen=True, slots=True)
class CreateResult:
    """``created`` False means the idempotency key was known: ``message_id`` is the first one's,
    unless a guard refused the message (then its own)."""

    created: bool
    message_id: str
    same_content: bool = True
    opted_out: bool = False  # refused: the number is on the opt-out list
    over_limit: VelocityRefusal | None = None  # refused: a limit of the pumping guard is full
    braked: BrakeRefusal | None = None  # refused: an OTP to a country whose brake is on
    over_cap: SpendRefusal | None = None  # refused: its spend would pass a cap
    # Recorded: the caps ("<period>|<counter>") its reservation took to their alert share.
    spend_alerts: tuple[str, ...] = ()


def create_result(raw: list[Any], digest: str, message_id: str) -> CreateResult:
    """What the create script says of one message (see create_messages.lua)."""
    created, stored = int(raw[0]), str(raw[1])
    first_id, _, first_digest = stored.partition("|")
    if created == _OPTED_OUT:
        return CreateResult(False, message_id, opted_out=True)
    if created == _OVER_LIMIT:
        return CreateResult(False, message_id, over_limit=VelocityRefusal.parse(stored))
    if created == _BRAKED:
        return CreateResult(False, message_id, braked=BrakeRefusal.parse(stored))
    if created == _OVER_CAP:
        return CreateResult(False, message_id, over_cap=SpendRefusal.parse(stored))
    if created:
        alerts = tuple(a for a in str(raw[2]).split(",") if a) if len(raw) > 2 else ()
        return CreateResult(True, first_id, spend_alerts=alerts)
    return CreateResult(False, first_id, same_content=first_digest == digest)


@dataclass(frozen=True, slots=True)
class DoorCounting:
    """What the guards count new messages in: the pumping guard's window and each message's
    checks by message id (a message without any is not counted), the brake's rules and the
    country whose brake each OTP is under, and each message's spend caps by message id (its
    reservation and counters are on its record)."""

    window: VelocityWindow
    checks: Mapping[str, tuple[VelocityCheck, ...]] = field(default_factory=dict)
    brake: BrakeRules = field(default_factory=lambda: BrakeRules(0, 0.0, 1))
    braked_countries: Mapping[str, str] = field(default_factory=dict)
    spend_caps: Mapping[str, tuple[SpendCap, ...]] = field(default_factory=dict)
    spend_alert_at: float = 0.8

    def keys(self, now_ms: int) -> list[str]:
        """The window before and the window under way, the brakes, the month's spend."""
        window_s, bucket = self.window.window_ms // 1000, self.window.bucket(now_ms)
        periods = SpendPeriods.at(now_ms)
        return [
            velocity_key(window_s, bucket - 1),
            velocity_key(window_s, bucket),
            PUMPING_BRAKES,
            spend_key(periods.month),
        ]

    def header(self, now_ms: int) -> list[Any]:
        """The script's arguments of the whole call."""
        periods = SpendPeriods.at(now_ms)
        return [
            repr(self.window.previous_weight(now_ms)),
            2 * self.window.window_ms,
            self.brake.min_otps,
            repr(self.brake.min_conversion_rate),
            self.brake.cool_down_ms,
            repr(self.spend_alert_at),
            periods.day[6:],
            _MONTH_TTL_S,
        ]

    def group(self, record: MessageRecord) -> list[str]:
        """One message's arguments: its checks, its brake, its spend, its smart encoding."""
        checks = ";".join(f"{c.counter}={c.most}" for c in self.checks.get(record.id, ()))
        caps = ";".join(
            f"{c.period}|{c.counter}|{c.limit}" for c in self.spend_caps.get(record.id, ())
        )
        held = "" if record.spend_held is None else str(record.spend_held)
        return [
            checks,
            self.braked_countries.get(record.id, ""),
            held,
            caps,
            ",".join(record.spend_counters),
            "1" if record.smart_encoded else "",
        ]
