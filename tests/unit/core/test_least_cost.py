"""A least-cost route's order: cheapest first, health as a factor, unpriced last."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.routing import cheapest_first, route_name_for

NAMES = ["sinch", "twilio", "vonage", "gosms"]


def test_the_cheapest_goes_first_and_the_unpriced_last() -> None:
    prices = {"sinch": 7_900, "twilio": 7_500, "vonage": None, "gosms": 9_000}
    assert cheapest_first(NAMES, prices, {}) == ("twilio", "sinch", "gosms", "vonage")


def test_a_provider_doing_half_as_well_counts_as_twice_as_dear() -> None:
    prices = {"sinch": 7_900, "twilio": 7_500}
    assert cheapest_first(["sinch", "twilio"], prices, {"twilio": 0.5}) == ("sinch", "twilio")
    assert cheapest_first(["sinch", "twilio"], prices, {"twilio": 0.99}) == ("twilio", "sinch")


@given(
    st.permutations(NAMES),
    st.lists(st.one_of(st.none(), st.integers(0, 50_000)), min_size=4, max_size=4),
    st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4),
)
def test_the_order_is_the_route_sorted_by_price_over_health(
    route: list[str], price_list: list[int | None], factor_list: list[float]
) -> None:
    prices = dict(zip(NAMES, price_list, strict=True))
    factors = dict(zip(NAMES, factor_list, strict=True))

    def dearness(name: str) -> tuple[bool, float]:
        price = prices[name]
        return (price is None, 0.0 if price is None else price / max(factors[name], 1e-6))

    order = cheapest_first(route, prices, factors)
    assert sorted(order) == sorted(route)
    ranks = [dearness(name) for name in order]
    assert ranks == sorted(ranks)  # every priced one first, cheapest first
    for a, b in itertools.pairwise(order):  # ties keep the route's order
        if dearness(a) == dearness(b):
            assert route.index(a) < route.index(b)


def test_a_destination_takes_its_longest_prefix_route() -> None:
    assert route_name_for("+447400123456", ["44", "447"]) == "447"
    assert route_name_for("+14155552671", ["44"]) == "default"
