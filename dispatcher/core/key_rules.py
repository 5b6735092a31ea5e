"""The guards' rules of one API key, where they differ from the deployment's: the countries its
messages may go to, and its own spend caps. Pure."""

from __future__ import annotations

from dataclasses import dataclass

from dispatcher.core.countries import CountryRules

__all__ = ["KeyRules"]


@dataclass(frozen=True, slots=True)
class KeyRules:
    """An API key's name and its own rules (None: the deployment's)."""

    name: str
    countries: CountryRules | None = None
    daily_spend: int | None = None  # micro-units of spend.currency a UTC day
    monthly_spend: int | None = None
