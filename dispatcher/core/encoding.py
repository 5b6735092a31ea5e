"""SMS text encoding: GSM-7 or UCS-2, and how many segments a body takes.

GSM 03.38: a single message holds 160 septets, a concatenated one 153 per segment (the user data
header takes the rest); characters of the extension table take two septets (escape + character)
and are never split across segments. UCS-2: 70 UTF-16 code units, 67 per concatenated segment,
surrogate pairs never split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["GSM7_BASIC", "GSM7_EXTENSION", "BodyEncoding", "encoding_of", "measure"]

Encoding = Literal["GSM-7", "UCS-2"]

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

_GSM_SINGLE, _GSM_MULTI = 160, 153
_UCS2_SINGLE, _UCS2_MULTI = 70, 67


@dataclass(frozen=True, slots=True)
class BodyEncoding:
    """How a body goes over the air."""

    encoding: Encoding
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int


def encoding_of(body: str) -> Encoding:
    """GSM-7 when every character is in the GSM 03.38 basic or extension table, else UCS-2."""
    for char in body:
        if char not in GSM7_BASIC and char not in GSM7_EXTENSION:
            return "UCS-2"
    return "GSM-7"


def measure(body: str) -> BodyEncoding:
    """The encoding, size and segment count of ``body``."""
    if encoding_of(body) == "GSM-7":
        widths = [2 if char in GSM7_EXTENSION else 1 for char in body]
        return BodyEncoding("GSM-7", sum(widths), _segments(widths, _GSM_SINGLE, _GSM_MULTI))
    widths = [2 if ord(char) > 0xFFFF else 1 for char in body]
    return BodyEncoding("UCS-2", sum(widths), _segments(widths, _UCS2_SINGLE, _UCS2_MULTI))


def _segments(widths: list[int], single: int, multi: int) -> int:
    """Pack characters of the given widths into segments without splitting one."""
    total = sum(widths)
    if total <= single:
        return 1 if total else 0
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:
            segments += 1
            used = 0
        used += width
    return segments
