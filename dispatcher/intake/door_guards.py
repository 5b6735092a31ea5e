"""The guards on money at the door: where a message may go, how many may go to one place, the
brake on one-time codes, and what may be spent.

Before a valid message is recorded, :class:`DoorGuards` refuses it when its number is in a
country it may not go to (``guard.allowed_countries`` / ``denied_countries``, or the API key's
own lists): :class:`~dispatcher.errors.Refused` with code ``country_not_allowed``, naming
``to``. Then it works out what the create script judges and counts atomically with recording
the message, for every API process and ``send_sms`` caller at once: the pumping guard's limits
(its number, range and country, with its category's limits), the brake its country's OTPs are
under, and the spend caps it is held to (:mod:`dispatcher.intake.spend_guard` prices it). A
message one of them refuses gets ``destination_rate_limited``, ``pumping_suspected`` or
``spend_cap_reached``, with the limit or cap and when to try again; this module words those
refusals and logs them and the alerts.

Replays of dead letters and replies to keywords are the operator's and the service's own
sends: they pass no guard here.
"""

from __future__ import annotations

from collections.abc import Iterable

from dispatcher.config.settings import Settings
from dispatcher.core.categories import MESSAGE_CATEGORIES
from dispatcher.core.countries import CountryRules
from dispatcher.core.key_rules import KeyRules
from dispatcher.core.masking import mask_number
from dispatcher.core.message_record import MessageRecord, record_region
from dispatcher.core.pricing import from_micros
from dispatcher.core.pumping_brake import BrakeRefusal
from dispatcher.core.spend_caps import SpendPeriods
from dispatcher.core.velocity import VelocityCheck, VelocityRefusal, VelocityWindow, velocity_checks
from dispatcher.errors import Refused
from dispatcher.intake.spend_guard import SpendGuard
from dispatcher.logs import get_logger
from dispatcher.store.door_counting import DoorCounting, SpendRefusal

__all__ = ["DoorGuards"]


class DoorGuards:
    """The country lists and the pumping guard's limits of one deployment."""

    def __init__(self, settings: Settings) -> None:
        self._guard = settings.guard
        self.countries = settings.guard.country_rules()
        self._window = VelocityWindow(settings.guard.window_s * 1000)
        self._brake = settings.guard.brake_rules()
        self._limits = {c: settings.guard.limits_for(c) for c in MESSAGE_CATEGORIES}
        self.spend = SpendGuard(settings)
        self._currency = settings.spend.currency
        self._alert_at = settings.spend.alert_at

    def country_refusal(
        self, to: str, region: str, countries: CountryRules | None
    ) -> Refused | None:
        """Why a message to ``to`` may not go to its country ``region`` under ``countries``
        (an API key's rules; None: the deployment's), or None."""
        problem = (countries or self.countries).problem(region)
        if problem is None:
            return None
        log = get_logger(to=mask_number(to))
        log.info("sms.refused", code="country_not_allowed", region=region)
        return Refused("country_not_allowed", f"to: {problem}", field="to")

    def checks(self, record: MessageRecord) -> tuple[VelocityCheck, ...]:
        """The limits a new message is counted against."""
        return velocity_checks(
            record.to,
            record_region(record),
            record.category,
            self._limits[record.category],
            range_digits=self._guard.range_digits,
        )

    def counting(self, records: Iterable[MessageRecord], key: KeyRules | None) -> DoorCounting:
        """What the create script counts ``records`` (sent with ``key``) in: the pumping
        guard's limits, the brakes their OTPs are under, the spend caps they are held to."""
        checks, braked, caps = {}, {}, {}
        for record in records:
            found = self.checks(record)
            if found:
                checks[record.id] = found
            if self._brake.on and record.category == "otp":
                braked[record.id] = record_region(record)
            if record.spend_held is not None:
                caps[record.id] = self.spend.caps(record_region(record), key)
        return DoorCounting(self._window, checks, self._brake, braked, caps, self._alert_at)

    def cap_refusal(
        self, record: MessageRecord, over: SpendRefusal, key: KeyRules | None, now_ms: int
    ) -> Refused:
        """The refusal of a message whose spend would pass a cap."""
        name = next(
            (
                c.name
                for c in self.spend.caps(record_region(record), key)
                if (c.period, c.counter) == (over.period, over.counter)
            ),
            over.counter,
        )
        spent, limit = from_micros(over.spent), from_micros(over.limit)
        get_logger(message_id=record.id, to=mask_number(record.to)).warning(
            "sms.refused", code="spend_cap_reached", cap=name, period=over.period
        )
        return Refused(
            "spend_cap_reached",
            f"to: the {over.period}'s spend cap {name} ({limit:g} {self._currency}) has "
            f"{spent:g} {self._currency} spent or held; this message would pass it",
            field="to",
            limit=name,
            retry_after_s=SpendPeriods.at(now_ms).seconds_left(over.period, now_ms),
        )

    def spend_alerts(
        self, record: MessageRecord, crossed: tuple[str, ...], key: KeyRules | None
    ) -> None:
        """Log each cap a message's reservation took to its alert share."""
        caps = {(c.period, c.counter): c for c in self.spend.caps(record_region(record), key)}
        for crossing in crossed:
            period, _, counter = crossing.partition("|")
            cap = caps.get((period, counter))
            get_logger().warning(
                "guard.spend_cap_near",
                cap=cap.name if cap else counter,
                period=period,
                counter=counter,
                alert_at=self._alert_at,
                limit=from_micros(cap.limit) if cap else None,
            )

    def brake_refusal(self, record: MessageRecord, braked: BrakeRefusal, now_ms: int) -> Refused:
        """The refusal of an OTP whose country's brake is on; an alert when it put it on."""
        region = record_region(record)
        retry_after_s = braked.retry_after_s(now_ms)
        log = get_logger(message_id=record.id, to=mask_number(record.to))
        if braked.engaged_now:
            log.error(
                "guard.pumping_suspected",
                region=region,
                otps_sent=braked.sent,
                otps_converted=braked.converted,
                until_ms=braked.until_ms,
            )
        log.info(
            "sms.refused", code="pumping_suspected", region=region, retry_after_s=retry_after_s
        )
        return Refused(
            "pumping_suspected",
            f"to: one-time codes to {region} are held: too few of those sent lately were used "
            f"(guard.min_conversion_rate); try again in {retry_after_s} s, or release it with "
            f"smsdispatch guard release {region}",
            field="to",
            limit="conversion_rate",
            retry_after_s=retry_after_s,
        )

    def rate_refusal(self, record: MessageRecord, over: VelocityRefusal, now_ms: int) -> Refused:
        """The refusal of a message that one of its limits had no room for."""
        retry_after_s = over.retry_after_s(self._window, now_ms)
        get_logger(message_id=record.id, to=mask_number(record.to)).info(
            "sms.refused",
            code="destination_rate_limited",
            limit=over.limit,
            category=record.category,
            retry_after_s=retry_after_s,
        )
        return Refused(
            "destination_rate_limited",
            f"to: the limit of {over.most} {record.category} messages to one {over.limit} in "
            f"{self._guard.window_s} s is reached (guard per_{over.limit}); try again in "
            f"{retry_after_s} s",
            field="to",
            limit=f"per_{over.limit}",
            retry_after_s=retry_after_s,
        )
