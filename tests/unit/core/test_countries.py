"""A number's country, and the allow-list and deny-list."""

from __future__ import annotations

import phonenumbers
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.countries import UNKNOWN_REGION, country_problem, is_region_code, region_of


def test_a_number_is_in_the_region_its_plan_gives_it() -> None:
    assert region_of("+14155552671") == "US"
    assert region_of("+14165550123") == "CA"  # one calling code, two countries
    assert region_of("+447400123456") == "GB"
    assert region_of("+447911123456") == "GG"  # Guernsey, in the UK's plan
    assert region_of("+not a number") == UNKNOWN_REGION


@given(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
def test_every_regions_example_number_is_in_a_region_it_is_valid_for(region: str) -> None:
    example = phonenumbers.example_number(region)
    if example is None:
        return
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    found = region_of(e164)
    # Its own region, or one sharing its numbers (Western Sahara's are Morocco's).
    assert found == region or phonenumbers.is_valid_number_for_region(example, found)
    assert is_region_code(found)


def test_an_empty_allow_list_allows_all_but_the_denied() -> None:
    assert country_problem("US", (), ()) is None
    assert country_problem("US", (), ("RU",)) is None
    problem = country_problem("RU", (), ("RU",))
    assert problem is not None
    assert "guard.denied_countries" in problem


def test_an_allow_list_refuses_the_rest_and_names_what_it_allows() -> None:
    assert country_problem("GB", ("US", "GB"), ()) is None
    problem = country_problem("NG", ("US", "GB"), ())
    assert problem == "is a number in NG, which is not on the allowed countries (GB, US)"


def test_region_codes_are_those_of_phone_numbers() -> None:
    assert is_region_code("US")
    assert not is_region_code("us")
    assert not is_region_code("XX")
    assert not is_region_code(UNKNOWN_REGION)
