"""What a message costs: a provider's price per segment for a destination, in micro-units of
the configured currency (``spend.currency``), so sums are exact. Pure.

A provider's price table (``[prices.PROVIDER]``) maps E.164 prefixes (digits, no ``+``) to a
price per segment; the longest matching prefix wins, else ``default``. A provider without a
table, or a destination its table does not price, costs nothing as far as the guards know.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

__all__ = ["MICROS", "PriceTable", "from_micros", "prices_to", "to_micros"]

MICROS = 1_000_000  # micro-units in one unit of the currency


def to_micros(amount: float | str | Decimal) -> int:
    """An amount of the currency in micro-units (half a micro-unit rounds up)."""
    exact = Decimal(str(amount)) * MICROS
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_micros(micros: int) -> float:
    """Micro-units as an amount of the currency (for views and metrics)."""
    return micros / MICROS


@dataclass(frozen=True, slots=True)
class PriceTable:
    """One provider's prices per segment, by E.164 prefix, in micro-units."""

    prefixes: Mapping[str, int] = field(default_factory=dict)
    default: int | None = None

    @classmethod
    def from_config(cls, table: Mapping[str, float]) -> PriceTable:
        """From ``[prices.PROVIDER]``: prefixes (digits, a leading + allowed) and ``default``."""
        prefixes = {
            prefix.lstrip("+"): to_micros(price)
            for prefix, price in table.items()
            if prefix != "default"
        }
        default = table.get("default")
        return cls(prefixes, None if default is None else to_micros(default))

    def per_segment(self, e164: str) -> int | None:
        """The price of one segment to ``e164`` (None: not priced)."""
        digits = e164.lstrip("+")
        best = max((p for p in self.prefixes if digits.startswith(p)), key=len, default=None)
        return self.prefixes[best] if best is not None else self.default

    def cost(self, e164: str, segments: int) -> int:
        """What ``segments`` segments to ``e164`` cost (0 when not priced)."""
        return (self.per_segment(e164) or 0) * segments


def prices_to(
    tables: Mapping[str, PriceTable], providers: Sequence[str], e164: str
) -> dict[str, int | None]:
    """Each of ``providers``' price of a segment to ``e164`` (None: not priced)."""
    return {
        name: table.per_segment(e164) if (table := tables.get(name)) else None for name in providers
    }
