"""Prices per segment by destination prefix, in exact micro-units, and spend periods."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.pricing import MICROS, PriceTable, from_micros, to_micros
from dispatcher.core.spend_caps import SpendPeriods, counters_for

PREFIXES = st.dictionaries(
    st.text("0123456789", min_size=1, max_size=4),
    st.decimals(min_value=0, max_value=10, places=6, allow_nan=False),
    max_size=8,
)


def test_the_longest_prefix_wins_else_the_default() -> None:
    table = PriceTable.from_config({"default": 0.05, "1": 0.0079, "+1415": 0.0069, "44": 0.035})
    assert table.per_segment("+14155552671") == 6_900
    assert table.per_segment("+12125550100") == 7_900
    assert table.per_segment("+447400123456") == 35_000
    assert table.per_segment("+33612345678") == 50_000
    assert table.cost("+447400123456", 3) == 105_000
    assert PriceTable.from_config({"1": 0.01}).per_segment("+33612345678") is None
    assert PriceTable().cost("+33612345678", 2) == 0


@given(PREFIXES, st.text("0123456789", min_size=1, max_size=12), st.integers(0, 10))
def test_a_price_is_the_longest_matching_prefix_times_the_segments(
    prices: dict[str, Decimal], digits: str, segments: int
) -> None:
    table = PriceTable.from_config({p: float(v) for p, v in prices.items()})
    matching = [p for p in prices if digits.startswith(p)]
    expected = to_micros(float(prices[max(matching, key=len)])) if matching else None
    assert table.per_segment("+" + digits) == expected
    assert table.cost("+" + digits, segments) == (expected or 0) * segments


@given(st.decimals(min_value=0, max_value=90_000_000, places=6, allow_nan=False))
def test_micro_units_are_exact(amount: Decimal) -> None:
    micros = to_micros(amount)
    assert micros == int(amount * MICROS)
    assert (
        Decimal(str(from_micros(micros))) == amount.normalize()
        or abs(from_micros(micros) - float(amount)) < 1e-6
    )


def test_half_a_micro_unit_rounds_up() -> None:
    assert to_micros("0.0000005") == 1
    assert to_micros("0.0000004") == 0
    assert to_micros(0.0075) == 7_500  # a float's shortest form, not its binary expansion


def test_spend_periods_are_utc_days_and_months() -> None:
    periods = SpendPeriods.at(1_796_342_399_000)  # 2026-12-03T23:59:59Z
    assert periods == SpendPeriods("20261203", "202612")
    assert SpendPeriods.of_day("20261203") == periods


def test_a_messages_counters() -> None:
    assert counters_for("US", None) == ("all", "country:US")
    assert counters_for("GB", "shop") == ("all", "country:GB", "key:shop")
