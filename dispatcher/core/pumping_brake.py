"""The pumping guard's brake on one-time codes, by destination country. Pure.

A web app that says when a code was used (``report_conversion``, ``POST
/v1/messages/{id}/conversion``) lets the guard see pumping the velocity limits cannot: bots
asking for codes to many numbers of a country, none of which is ever typed in. Per country,
over the pumping guard's sliding window, OTPs sent and converted are counted. When a country
has sent at least ``min_otps`` and converted fewer than ``min_conversion_rate`` of them, its
brake goes on: new OTPs to it are refused (``pumping_suspected``) for ``cool_down_s``, or until
an operator releases it. A brake that runs out comes off with a fresh start (the counts that
put it on are forgotten), so a country still being pumped loses at most ``min_otps`` codes a
cool-down. Messages of other categories are never braked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BrakeRefusal", "BrakeRules", "brake_counters"]


@dataclass(frozen=True, slots=True)
class BrakeRules:
    """When the brake goes on (``min_otps`` 0: never), and for how long."""

    min_otps: int
    min_conversion_rate: float
    cool_down_ms: int

    @property
    def on(self) -> bool:
        return self.min_otps > 0


def brake_counters(country: str) -> tuple[str, str]:
    """The velocity counters of a country's OTPs sent and converted."""
    return f"otp:sent:{country}", f"otp:converted:{country}"


@dataclass(frozen=True, slots=True)
class BrakeRefusal:
    """An OTP refused by its country's brake: until when, whether this message put it on, and
    the OTPs sent and converted then."""

    until_ms: int
    engaged_now: bool
    sent: int
    converted: int

    @classmethod
    def parse(cls, text: str) -> BrakeRefusal:
        """From the create script's ``"<until>|<1: put on now>|<sent>|<converted>"``."""
        until, engaged, sent, converted = text.split("|")
        return cls(int(float(until)), engaged == "1", int(float(sent)), int(float(converted)))

    def retry_after_s(self, now_ms: int) -> int:
        return max(math.ceil((self.until_ms - now_ms) / 1000), 1)
