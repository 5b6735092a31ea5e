"""The guards on money at the door: where a message may go, and how many may go to one place.

Before a valid message is recorded, :class:`DoorGuards` refuses it when its number is in a
country it may not go to (``guard.allowed_countries`` / ``denied_countries``, or the API key's
own lists): :class:`~dispatcher.errors.Refused` with code ``country_not_allowed``, naming
``to``. Then it works out the pumping guard's checks of the message (its number, range and
country, with its category's limits), which the create script judges and counts atomically with
recording it, for every API process and ``send_sms`` caller at once; a message with no room is
refused with code ``destination_rate_limited``, the limit and when to try again.

Replays of dead letters and replies to keywords are the operator's and the service's own
sends: they pass no guard here.
"""

from __future__ import annotations

from collections.abc import Iterable

from dispatcher.config.settings import Settings
from dispatcher.core.countries import CountryRules, region_of
from dispatcher.core.masking import mask_number
from dispatcher.core.message_record import MessageRecord
from dispatcher.core.pumping_brake import BrakeRefusal
from dispatcher.core.velocity import VelocityCheck, VelocityRefusal, VelocityWindow, velocity_checks
from dispatcher.errors import Refused
from dispatcher.logs import get_logger
from dispatcher.store.messages import VelocityCounting

__all__ = ["DoorGuards"]


class DoorGuards:
    """The country lists and the pumping guard's limits of one deployment."""

    def __init__(self, settings: Settings) -> None:
        self._guard = settings.guard
        self.countries = settings.guard.country_rules()
        self._window = VelocityWindow(settings.guard.window_s * 1000)
        self._brake = settings.guard.brake_rules()

    def country_refusal(self, to: str, countries: CountryRules | None) -> Refused | None:
        """Why a message to ``to`` may not go to its country under ``countries`` (an API key's
        rules; None: the deployment's), or None."""
        region, problem = (countries or self.countries).problem(to)
        if problem is None:
            return None
        log = get_logger(to=mask_number(to))
        log.info("sms.refused", code="country_not_allowed", region=region)
        return Refused("country_not_allowed", f"to: {problem}", field="to")

    def checks(self, record: MessageRecord) -> tuple[VelocityCheck, ...]:
        """The limits a new message is counted against."""
        return velocity_checks(
            record.to,
            region_of(record.to),
            record.category,
            self._guard.limits_for(record.category),
            range_digits=self._guard.range_digits,
        )

    def counting(self, records: Iterable[MessageRecord]) -> VelocityCounting:
        """What the create script counts ``records`` in, and the brakes their OTPs are under."""
        checks, braked = {}, {}
        for record in records:
            found = self.checks(record)
            if found:
                checks[record.id] = found
            if self._brake.on and record.category == "otp":
                braked[record.id] = region_of(record.to)
        return VelocityCounting(self._window, checks, self._brake, braked)

    def brake_refusal(self, record: MessageRecord, braked: BrakeRefusal, now_ms: int) -> Refused:
        """The refusal of an OTP whose country's brake is on; an alert when it put it on."""
        region = region_of(record.to)
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
