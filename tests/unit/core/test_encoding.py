"""GSM-7 / UCS-2 detection and segment counting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.encoding import GSM7_BASIC, GSM7_EXTENSION, encoding_of, measure

CASES = [
    # body, encoding, units, segments
    ("hello", "GSM-7", 5, 1),
    ("", "GSM-7", 0, 0),
    ("a" * 160, "GSM-7", 160, 1),
    ("a" * 161, "GSM-7", 161, 2),
    ("a" * 306, "GSM-7", 306, 2),
    ("a" * 307, "GSM-7", 307, 3),
    ("€" * 80, "GSM-7", 160, 1),  # extension characters count double
    ("€" * 81, "GSM-7", 162, 2),
    ("[]{}^~|\\", "GSM-7", 16, 1),
    ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),  # the escape pair moves whole to segment 2
    ("a" * 152 + "€" + "a" * 152, "GSM-7", 306, 3),  # 152 + (2+151) + 1: never split the pair
    ("Ünïcödé ç", "UCS-2", 9, 1),  # ï is not in GSM 03.38
    ("привет", "UCS-2", 6, 1),
    ("ж" * 70, "UCS-2", 70, 1),
    ("ж" * 71, "UCS-2", 71, 2),
    ("ж" * 134, "UCS-2", 134, 2),
    ("ж" * 135, "UCS-2", 135, 3),
    ("😀" * 35, "UCS-2", 70, 1),  # surrogate pairs: two code units each
    ("😀" * 36, "UCS-2", 72, 2),
    ("ж" * 66 + "😀" + "ж", "UCS-2", 69, 1),
    ("ж" * 66 + "😀" + "ж" * 3, "UCS-2", 71, 2),
    ("ж" * 66 + "😀" + "ж" * 66, "UCS-2", 134, 3),  # 66 | pair+65 | 1: the pair is not split
]


@pytest.mark.parametrize(("body", "encoding", "units", "segments"), CASES)
def test_measure(body: str, encoding: str, units: int, segments: int) -> None:
    """Each body has the documented encoding, size and segment count."""
    measured = measure(body)
    assert (measured.encoding, measured.units, measured.segments) == (encoding, units, segments)


def test_one_non_gsm_character_makes_the_whole_body_ucs2() -> None:
    """A single character outside GSM 03.38 switches the whole message to UCS-2."""
    assert encoding_of("a" * 100 + "ł") == "UCS-2"
    assert measure("a" * 100 + "ł").segments == 2  # 101 units > 70


@given(st.text(alphabet=sorted(GSM7_BASIC | GSM7_EXTENSION), max_size=1200))
def test_gsm_segments_hold_every_septet(body: str) -> None:
    """Segments are never fewer than the septets need, nor one more than packing requires."""
    measured = measure(body)
    assert measured.encoding == "GSM-7"
    if measured.units <= 160:
        assert measured.segments == (1 if body else 0)
    else:
        assert measured.segments * 153 >= measured.units
        assert (measured.segments - 1) * 153 < measured.units + measured.segments


@given(st.text(min_size=1, max_size=800))
def test_ucs2_segments_hold_every_code_unit(body: str) -> None:
    """Any text fits in the segments counted for it."""
    measured = measure(body)
    limit = 160 if measured.encoding == "GSM-7" else 70
    multi = 153 if measured.encoding == "GSM-7" else 67
    if measured.units <= limit:
        assert measured.segments == 1
    else:
        assert measured.segments * multi >= measured.units
