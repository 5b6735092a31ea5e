"""Smart encoding: typographic characters sent as GSM-7, never at a cost in segments."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.core.encoding import GSM7_BASIC, GSM7_EXTENSION, encoding_of, measure
from dispatcher.core.message_record import MessageRecord
from dispatcher.core.smart_encoding import SMART_REPLACEMENTS, smart_encode
from tests.message_records import a_record

GSM7 = sorted(GSM7_BASIC | GSM7_EXTENSION)
TYPOGRAPHIC = sorted(SMART_REPLACEMENTS)
OTHERS = ["\u0436", "\u0142", "\u00ef", "\U0001f600", "\u4e2d"]  # not GSM-7, not in the table

APOSTROPHE, EM_DASH, ELLIPSIS = "\u2019", "\u2014", "\u2026"


def test_the_readme_example_goes_from_two_ucs2_segments_to_one_gsm7() -> None:
    """A curly apostrophe and an em dash in a 100-character body: 2 UCS-2 segments, 1 GSM-7."""
    body = (
        f"Hi Sam, your order{APOSTROPHE}s on its way {EM_DASH} track it at example.com/t/8F3K2 "
        "or call 0800 123 4567 at any time."
    )
    assert (len(body), measure(body).encoding, measure(body).segments) == (100, "UCS-2", 2)
    sent = smart_encode(body)
    assert sent == body.replace(APOSTROPHE, "'").replace(EM_DASH, "-")
    assert (measure(sent).encoding, measure(sent).segments) == ("GSM-7", 1)


@pytest.mark.parametrize(
    ("body", "sent"),
    [
        ("\u201cHi\u201d \u2018there\u2019", "\"Hi\" 'there'"),
        ("\u201eGuten Tag\u201c, \u201aja\u2018", "\"Guten Tag\", 'ja'"),
        ("\u00abBonjour\u00bb \u2039toi\u203a", "\"Bonjour\" 'toi'"),
        ("5\u20322\u2033 tall", "5'2\" tall"),
        ("don\u00b4t, don`t", "don't, don't"),
        ("9\u201317 \u2010 a\u2011b \u2212 c \u2015 d \u2012 e", "9-17 - a-b - c - d - e"),
        ("\u2022 one\n\u2023 two\n\u25e6 three", "- one\n- two\n- three"),
        ("wait\u2026", "wait..."),
        ("now\u203c", "now!!"),
        ("1\u20442 \u204e", "1/2 *"),
        ("a\u00a0b\u202fc\u2009d\u3000e\tf", "a b c d e f"),
        ("gov.\u200buk \u200d\ufeff\u2060\u00adx", "gov.uk x"),
        ("one\u2028two\u2029three", "one\ntwo\nthree"),
        ("\u20ac5 \u2014 {ok}", "\u20ac5 - {ok}"),  # extension characters stay as they are
    ],
)
def test_typographic_characters_become_their_gsm7_equivalents(body: str, sent: str) -> None:
    """Quotes, primes, dashes, bullets, the ellipsis, odd spaces and invisible characters."""
    assert smart_encode(body) == sent
    assert encoding_of(sent) == "GSM-7"


@pytest.mark.parametrize(
    "body",
    [
        "hello",  # GSM-7 already
        "",
        "caf\u00e9 \u00e0 \u00c9",  # accented letters of GSM-7: nothing to do
        f"\u043f\u0440\u0438\u0432\u0435\u0442{EM_DASH}",  # Cyrillic stays UCS-2
        f"It{APOSTROPHE}s \U0001f600",  # an emoji keeps the body UCS-2
        f"\u0141\u00f3d\u017a{APOSTROPHE}",  # letters are never transliterated
        "na\u00efve \u201cquote\u201d",  # nor accented letters outside GSM-7
        "\u02bbokina \u201chi\u201d",  # nor the Hawaiian okina, a letter
        "\u200b",  # it would be left blank
        "\u200b\u00a0\u200d",
        ELLIPSIS * 70,  # 70 UCS-2 units (1 segment) would be 210 septets (2 segments)
    ],
)
def test_bodies_that_go_as_written(body: str) -> None:
    """GSM-7 already, UCS-2 anyway, blank once replaced, or in more segments: no replacement."""
    assert smart_encode(body) is None


def test_an_ellipsis_is_replaced_while_the_segments_do_not_grow() -> None:
    """69 ellipses and a quote fit 1 UCS-2 segment; as 208 septets they need 2: kept as written.
    A body already in 3 UCS-2 segments that needs only 2 GSM-7 ones is replaced."""
    assert smart_encode(ELLIPSIS * 69 + APOSTROPHE) is None
    long_body = ELLIPSIS * 20 + "a" * 120
    assert measure(long_body).segments == 3
    sent = smart_encode(long_body)
    assert sent == "." * 60 + "a" * 120
    assert measure(sent).segments == 2


def test_every_replacement_is_gsm7_and_every_key_one_non_gsm7_character() -> None:
    """The table only ever maps a character outside GSM 03.38 to GSM-7 text."""
    assert len(SMART_REPLACEMENTS) == 69
    for char, replacement in SMART_REPLACEMENTS.items():
        assert len(char) == 1
        assert encoding_of(char) == "UCS-2", f"U+{ord(char):04X}"
        assert encoding_of(replacement) == "GSM-7", f"U+{ord(char):04X}"
        assert len(replacement) <= 3


def test_the_table_holds_every_unicode_space_and_no_letter_or_mark() -> None:
    """Every space separator (Zs) becomes a space; no letter (but the modifier primes and
    apostrophes), combining mark, digit or control character (but the tab) is in the table."""
    spaces = {
        chr(code)
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) == "Zs" and code != 0x20
    }
    assert {c for c in spaces if SMART_REPLACEMENTS.get(c) == " "} == spaces
    categories = {c: unicodedata.category(c) for c in SMART_REPLACEMENTS}
    letters = {c for c, cat in categories.items() if cat.startswith("L")}
    assert letters == {"\u02b9", "\u02ba", "\u02bc", "\u02ee"}  # modifier prime / apostrophe
    assert not [c for c, cat in categories.items() if cat[0] in "MN"]
    assert [c for c, cat in categories.items() if cat == "Cc"] == ["\t"]


typographic_bodies = st.text(alphabet=st.sampled_from(GSM7 + TYPOGRAPHIC), max_size=700)
mixed_bodies = st.text(alphabet=st.sampled_from(GSM7 + TYPOGRAPHIC + OTHERS), max_size=700)
# Mostly ellipses: bodies that would grow into more segments once replaced.
ellipsis_bodies = st.builds(
    lambda ellipses, letters, words: ELLIPSIS * ellipses + "a" * letters + words,
    st.integers(0, 200),
    st.integers(0, 200),
    st.text(alphabet=st.sampled_from(["a", " ", APOSTROPHE, ELLIPSIS]), max_size=20),
)


@given(st.text(alphabet=st.sampled_from(GSM7), max_size=1000))
def test_a_gsm7_body_is_never_changed(body: str) -> None:
    assert smart_encode(body) is None


@given(mixed_bodies, st.sampled_from(OTHERS))
def test_a_body_that_stays_ucs2_is_never_changed(body: str, other: str) -> None:
    """A character outside GSM-7 with no replacement keeps the whole body as written."""
    assert smart_encode(body + other) is None
    assert smart_encode(other + body) is None


@given(st.one_of(mixed_bodies, ellipsis_bodies))
def test_a_replacement_is_gsm7_in_no_more_segments(body: str) -> None:
    """When the body changes it becomes GSM-7, only through the table, never blank, and in at
    most as many segments as it took as written."""
    sent = smart_encode(body)
    if sent is None:
        return
    assert sent != body
    assert sent == "".join(SMART_REPLACEMENTS.get(c, c) for c in body)
    assert measure(sent).encoding == "GSM-7"
    assert measure(sent).segments <= measure(body).segments
    assert sent.strip()


@given(st.one_of(typographic_bodies, ellipsis_bodies))
def test_a_body_is_left_alone_only_when_a_rule_says_so(body: str) -> None:
    """Any GSM-7-but-typographic body is replaced, unless it would be blank or need more
    segments."""
    replaced = "".join(SMART_REPLACEMENTS.get(c, c) for c in body)
    left_alone = (
        encoding_of(body) == "GSM-7"
        or not replaced.strip()
        or measure(replaced).segments > measure(body).segments
    )
    assert smart_encode(body) == (None if left_alone else replaced)


def test_the_record_keeps_smart_encoded_in_its_hash() -> None:
    """A smart-encoded record writes the field and reads it back; a plain one leaves it out."""
    smart = a_record(body="It's", smart_encoded=True)
    assert smart.to_hash()["smart_encoded"] == "1"
    assert MessageRecord.from_hash(smart.to_hash()) == smart
    plain = a_record(body="It's")
    assert "smart_encoded" not in plain.to_hash()
    assert MessageRecord.from_hash(plain.to_hash()) == plain


def test_a_record_written_before_smart_encoding_reads_as_not_smart_encoded() -> None:
    old = {k: v for k, v in a_record(smart_encoded=True).to_hash().items() if k != "smart_encoded"}
    assert MessageRecord.from_hash(old).smart_encoded is False


@pytest.mark.parametrize("smart_encoded", [True, False])
def test_the_status_shows_whether_the_body_was_smart_encoded(smart_encoded: bool) -> None:
    view = a_record(smart_encoded=smart_encoded).public_view([])
    assert view["smart_encoded"] is smart_encoded
    assert "body" not in view
