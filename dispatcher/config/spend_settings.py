"""The settings of the guards on spend: ``[spend]`` (caps and the currency) and ``[prices]``
(each provider's price per segment by destination prefix)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dispatcher.core.countries import is_region_code
from dispatcher.core.pricing import to_micros
from dispatcher.core.spend_caps import SpendCap

__all__ = ["CountrySpendSettings", "SpendSettings", "check_price_table"]

# Up to 90 million: the counters are micro-units in Lua numbers, exact to 14 digits.
_AMOUNT = Field(default=0.0, ge=0, le=90_000_000)


class CountrySpendSettings(BaseModel):
    """The caps of one destination country (0: none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    daily_limit: float = _AMOUNT
    monthly_limit: float = _AMOUNT


class SpendSettings(BaseModel):
    """Spend caps per UTC day and month (0: none), in ``currency``, with the alert's share."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    daily_limit: float = _AMOUNT
    monthly_limit: float = _AMOUNT
    # A warning is logged (and counted) when a cap's spend reaches this share of it.
    alert_at: float = Field(default=0.8, gt=0, le=1)
    countries: dict[str, CountrySpendSettings] = Field(default_factory=dict)

    @field_validator("countries")
    @classmethod
    def _regions(cls, value: dict[str, CountrySpendSettings]) -> dict[str, CountrySpendSettings]:
        unknown = [code for code in value if not is_region_code(code)]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not an ISO 3166 region code, e.g. 'US'")
        return value

    def all_caps(self) -> tuple[SpendCap, ...]:
        """Every cap set here: the deployment's and each country's (an API key's are its own)."""
        found = [
            SpendCap("all", "day", to_micros(self.daily_limit), "spend.daily_limit"),
            SpendCap("all", "month", to_micros(self.monthly_limit), "spend.monthly_limit"),
        ]
        for region, country in self.countries.items():
            where = f"spend.countries.{region}"
            found += [
                SpendCap(f"country:{region}", "day", to_micros(country.daily_limit), where),
                SpendCap(f"country:{region}", "month", to_micros(country.monthly_limit), where),
            ]
        return tuple(cap for cap in found if cap.limit > 0)

    @property
    def any_cap(self) -> bool:
        """Whether a cap is set here (an API key's own are not seen here)."""
        countries = self.countries.values()
        return bool(
            self.daily_limit
            or self.monthly_limit
            or any(c.daily_limit or c.monthly_limit for c in countries)
        )


def check_price_table(provider: str, table: dict[str, float]) -> None:
    """Raise :class:`ValueError` as ``"<where>: <reason>"`` for a price table that cannot work."""
    for prefix, price in table.items():
        where = f"prices.{provider}.{prefix}"
        if prefix != "default" and not prefix.lstrip("+").isdigit():
            raise ValueError(f'{where}: must be E.164 digits, e.g. "44", or "default"')
        if not 0 <= price <= 1_000:
            raise ValueError(f"{where}: must be a price per segment from 0 to 1000")
