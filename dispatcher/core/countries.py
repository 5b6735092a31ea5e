"""Which country a number is in, and whether messages may go there. Pure.

A country is its ISO 3166 region code ("US", "GB"), as ``phonenumbers`` assigns it to a number
(a number shared by several regions, as in the North American plan, gets the region it belongs
to, "CA" for a Toronto number); ``ZZ`` when no region can be told. The country allow-list
(``guard.allowed_countries``; empty: every country) and deny-list (``guard.denied_countries``)
are the first guard on the bill: SMS pumping sends to premium ranges of countries the service
never has users in.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass

import phonenumbers

__all__ = [
    "UNKNOWN_REGION",
    "CountryRules",
    "country_problem",
    "is_region_code",
    "region_of",
    "region_of_parsed",
]

UNKNOWN_REGION = "ZZ"


@functools.lru_cache(maxsize=16_384)
def region_of(e164: str) -> str:
    """The ISO 3166 region of an E.164 number (``ZZ`` when none is known). A message's record
    keeps its region from the door (``region``); this reads one it lacks (parsing a number
    costs tens of microseconds, so the latest are remembered)."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return UNKNOWN_REGION
    return region_of_parsed(number)


def region_of_parsed(number: phonenumbers.PhoneNumber) -> str:
    """The ISO 3166 region of a number already parsed (``ZZ`` when none is known)."""
    return phonenumbers.region_code_for_number(number) or UNKNOWN_REGION


def is_region_code(code: str) -> bool:
    """Whether ``code`` is a region phone numbers belong to ("US", "GB"; not "us", not "XX")."""
    return code in phonenumbers.SUPPORTED_REGIONS


def country_problem(region: str, allowed: Collection[str], denied: Collection[str]) -> str | None:
    """Why a message to ``region`` is refused (None: it may go). ``allowed`` empty allows every
    country but those ``denied``."""
    if region in denied:
        return f"is a number in {region}, where messages are not allowed (guard.denied_countries)"
    if allowed and region not in allowed:
        return (
            f"is a number in {region}, which is not on the allowed countries "
            f"({', '.join(sorted(allowed))})"
        )
    return None


@dataclass(frozen=True, slots=True)
class CountryRules:
    """The countries messages may go to (empty: all) and may not, of a deployment or an API
    key."""

    allowed: tuple[str, ...] = ()
    denied: tuple[str, ...] = ()

    def problem(self, region: str) -> str | None:
        """Why a message may not go to ``region`` (None: it may)."""
        return country_problem(region, self.allowed, self.denied)

    def overridden(
        self, allowed: tuple[str, ...] | None, denied: tuple[str, ...] | None
    ) -> CountryRules:
        """These rules with an API key's own lists where it has them."""
        return CountryRules(
            self.allowed if allowed is None else allowed,
            self.denied if denied is None else denied,
        )
