"""The settings of the guards on money at the door: ``[guard]``.

Countries a message may go to, and the pumping guard's limits: messages to one number, one
number range and one country over a sliding window, per category (``[guard.categories.otp]``
may set lower ones for one-time codes). See :mod:`dispatcher.core.countries` and
:mod:`dispatcher.core.velocity`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dispatcher.core.categories import MESSAGE_CATEGORIES
from dispatcher.core.countries import CountryRules, is_region_code
from dispatcher.core.pumping_brake import BrakeRules
from dispatcher.core.velocity import VelocityLimits

__all__ = ["CategoryLimitSettings", "GuardSettings", "check_regions"]


def check_regions(value: tuple[str, ...]) -> tuple[str, ...]:
    """ISO 3166 region codes, upper case, each a region phone numbers belong to."""
    unknown = [code for code in value if not is_region_code(code)]
    if unknown:
        raise ValueError(
            f"{unknown[0]!r} is not an ISO 3166 region code of phone numbers, e.g. 'US' or 'GB'"
        )
    return value


class CategoryLimitSettings(BaseModel):
    """The limits of one category where they differ from ``[guard]``'s (unset: the same)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_number: int | None = Field(default=None, ge=0, le=1_000_000_000)
    per_range: int | None = Field(default=None, ge=0, le=1_000_000_000)
    per_country: int | None = Field(default=None, ge=0, le=1_000_000_000)


class GuardSettings(BaseModel):
    """Guards at the door: where messages may go, and how many to one place in a while."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # ISO 3166 regions messages may go to (empty: every country), and regions they may not.
    allowed_countries: tuple[str, ...] = ()
    denied_countries: tuple[str, ...] = ()
    # The sliding window of the limits below (seconds), and the limits (0: no limit).
    window_s: int = Field(default=3_600, ge=60, le=7 * 86_400)
    per_number: int = Field(default=5, ge=0, le=1_000_000_000)
    per_range: int = Field(default=20, ge=0, le=1_000_000_000)
    per_country: int = Field(default=0, ge=0, le=1_000_000_000)
    # A number's range: the number without this many last digits.
    range_digits: int = Field(default=4, ge=1, le=10)
    # Limits of one category ("otp", "transactional", "marketing") where they differ.
    categories: dict[str, CategoryLimitSettings] = Field(default_factory=dict)
    # The brake on OTPs: a country that sent at least min_otps in the window and converted
    # (report_conversion) fewer than min_conversion_rate of them gets no OTP for
    # brake_cool_down_s. min_otps = 0: no brake.
    min_otps: int = Field(default=50, ge=0, le=1_000_000_000)
    min_conversion_rate: float = Field(default=0.2, ge=0, le=1)
    brake_cool_down_s: int = Field(default=1_800, ge=1, le=30 * 86_400)

    _regions = field_validator("allowed_countries", "denied_countries")(check_regions)

    @field_validator("categories")
    @classmethod
    def _known_categories(
        cls, value: dict[str, CategoryLimitSettings]
    ) -> dict[str, CategoryLimitSettings]:
        unknown = sorted(set(value) - set(MESSAGE_CATEGORIES))
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not one of {', '.join(MESSAGE_CATEGORIES)}")
        return value

    @model_validator(mode="after")
    def _allowed_or_denied(self) -> GuardSettings:
        both = sorted(set(self.allowed_countries) & set(self.denied_countries))
        if both:
            raise ValueError(f"{both[0]} is both allowed and denied")
        return self

    def country_rules(self) -> CountryRules:
        return CountryRules(self.allowed_countries, self.denied_countries)

    def brake_rules(self) -> BrakeRules:
        return BrakeRules(self.min_otps, self.min_conversion_rate, self.brake_cool_down_s * 1000)

    def limits_for(self, category: str) -> VelocityLimits:
        """The limits messages of ``category`` are counted against."""
        own = self.categories.get(category, CategoryLimitSettings())
        return VelocityLimits(
            per_number=self.per_number if own.per_number is None else own.per_number,
            per_range=self.per_range if own.per_range is None else own.per_range,
            per_country=self.per_country if own.per_country is None else own.per_country,
        )
