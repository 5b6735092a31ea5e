"""Validation at the door: every bad field is named, good input is normalised."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatcher.config.settings import MessageSettings
from dispatcher.errors import InvalidMessage
from dispatcher.intake.validation import validate_message

RULES = MessageSettings(max_segments=10, default_validity_s=3600, max_validity_s=259_200)
PROVIDERS = ("sinch",)


def refused(**fields: Any) -> dict[str, str]:
    with pytest.raises(InvalidMessage) as caught:
        validate_message(RULES, known_providers=PROVIDERS, **fields)
    return caught.value.fields


def test_valid_message_is_normalised_to_e164() -> None:
    """A formatted international number becomes E.164; the body is measured."""
    message = validate_message(
        RULES, to="+1 (415) 555-2671", body="hello", known_providers=PROVIDERS
    )
    assert message.to == "+14155552671"
    assert (message.encoding, message.segments) == ("GSM-7", 1)
    assert message.validity_s == 3600
    assert message.priority == "normal"


def test_national_number_uses_the_default_region() -> None:
    """A national number is read with messages.default_region."""
    rules = MessageSettings(default_region="GB")
    message = validate_message(rules, to="07400 123456", body="hi")
    assert message.to == "+447400123456"


def test_national_number_without_region_is_refused() -> None:
    """Without a default region a national number is refused, and the reason says why."""
    fields = refused(to="07400 123456", body="hi")
    assert "national number" in fields["to"]


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("+1415555267", "not a valid phone number"),  # one digit short
        ("+999123456789", "not"),  # no such country code
        ("hello", "national number"),
        ("+abc", "not a phone number"),
        ("", "is required"),
        (None, "is required"),
        (14155552671, "is required"),
    ],
)
def test_invalid_destination_is_refused(to: object, reason: str) -> None:
    """Numbers phonenumbers does not call valid never pass."""
    assert reason in refused(to=to, body="hello")["to"]


@pytest.mark.parametrize("body", ["", "   ", "\n\t", None, 42])
def test_empty_or_missing_body_is_refused(body: object) -> None:
    """An empty, blank or non-text body is refused."""
    assert "body" in refused(to="+14155552671", body=body)


def test_body_over_the_segment_limit_is_refused() -> None:
    """A 2,000-character body takes 14 segments, over the default limit of 10."""
    reason = refused(to="+14155552671", body="a" * 2000)["body"]
    assert "over the limit of 10" in reason


def test_ucs2_body_is_measured_in_its_own_segments() -> None:
    """11 UCS-2 segments (67 units each) are over a limit of 10; 10 are not."""
    assert "body" in refused(to="+14155552671", body="ж" * (67 * 10 + 1))
    ok = validate_message(RULES, to="+14155552671", body="ж" * (67 * 10))
    assert (ok.encoding, ok.segments) == ("UCS-2", 10)


@pytest.mark.parametrize("sender", ["Acme", "ACME Bank", "Shop24", "12345", "+14155552671"])
def test_good_senders(sender: str) -> None:
    """Alphanumeric up to 11 characters with a letter, or a number of 3 to 15 digits."""
    assert validate_message(RULES, to="+14155552671", body="x", sender=sender).sender == sender


@pytest.mark.parametrize("sender", ["", "TwelveLetter", "Acme!", "12", "1234567890123456", 7])
def test_bad_senders(sender: object) -> None:
    """Senders outside the rules are refused."""
    assert "sender" in refused(to="+14155552671", body="x", sender=sender)


def test_every_bad_field_is_named_at_once() -> None:
    """One error names all bad fields, not just the first."""
    fields = refused(
        to="+1",
        body="",
        sender="Way too long sender",
        priority="urgent",
        validity=0,
        providers=["nope"],
        callback_url="ftp://example",
        metadata={"k": [1]},
        idempotency_key="has space",
    )
    assert set(fields) == {
        "to",
        "body",
        "sender",
        "priority",
        "validity",
        "providers",
        "callback_url",
        "metadata",
        "idempotency_key",
    }


@pytest.mark.parametrize(
    ("validity", "expected"),
    [(None, 3600), (60, 60), (timedelta(minutes=5), 300), (259_200, 259_200)],
)
def test_validity(validity: object, expected: int) -> None:
    """Validity in seconds or a timedelta, defaulting from config."""
    message = validate_message(RULES, to="+14155552671", body="x", validity=validity)
    assert message.validity_s == expected


@pytest.mark.parametrize("validity", [0, -5, 259_201, True, "60"])
def test_bad_validity(validity: object) -> None:
    """Validity outside 1 s .. the configured maximum, or not a number, is refused."""
    assert "validity" in refused(to="+14155552671", body="x", validity=validity)


def test_fingerprint_changes_with_content() -> None:
    """The idempotency fingerprint differs when the body differs, not when only the key does."""
    a = validate_message(RULES, to="+14155552671", body="a", idempotency_key="k1")
    b = validate_message(RULES, to="+14155552671", body="b", idempotency_key="k1")
    c = validate_message(RULES, to="+14155552671", body="a", idempotency_key="k2")
    assert a.content_fingerprint() != b.content_fingerprint()
    assert a.content_fingerprint() == c.content_fingerprint()


@given(
    to=st.one_of(st.text(max_size=30), st.integers(), st.none()),
    body=st.one_of(st.text(max_size=3000), st.none(), st.integers()),
    sender=st.one_of(st.none(), st.text(max_size=20)),
)
def test_any_input_is_accepted_or_refused_with_named_fields(
    to: object, body: object, sender: object
) -> None:
    """Whatever comes in, the answer is a valid message or InvalidMessage naming the fields."""
    try:
        message = validate_message(RULES, to=to, body=body, sender=sender)
    except InvalidMessage as exc:
        refused_fields = exc.fields
    else:
        assert message.to.startswith("+")
        assert 1 <= message.segments <= RULES.max_segments
        return
    assert refused_fields
    assert set(refused_fields) <= {"to", "body", "sender"}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hook",
        "http://0.0.0.0/",
    ],
)
def test_callback_url_to_a_private_address_is_refused(url: str) -> None:
    """By default a callback may not point into the operator's own network; allowed, it may."""
    assert "callback_url" in refused(to="+14155552671", body="hi", callback_url=url)
    message = validate_message(
        RULES,
        to="+14155552671",
        body="hi",
        callback_url=url,
        known_providers=PROVIDERS,
        allow_private_callbacks=True,
    )
    assert message.callback_url == url


def test_callback_url_with_a_bad_port_is_refused() -> None:
    """A port that is not a number is a bad URL, not an error."""
    assert "callback_url" in refused(to="+14155552671", body="hi", callback_url="http://x:abc/")


@pytest.mark.parametrize(
    ("fields", "category"),
    [
        ({}, "transactional"),
        ({"priority": "high"}, "transactional"),
        ({"priority": "bulk"}, "marketing"),
        ({"priority": "bulk", "category": "transactional"}, "transactional"),
        ({"category": "marketing"}, "marketing"),
    ],
)
def test_a_message_is_transactional_unless_bulk_or_told(
    fields: dict[str, Any], category: str
) -> None:
    message = validate_message(RULES, to="+14155552671", body="hi", **fields)
    assert message.category == category


@pytest.mark.parametrize("category", ["promo", "", 1, ["marketing"]])
def test_an_unknown_category_is_refused_naming_the_field(category: object) -> None:
    assert refused(to="+14155552671", body="hi", category=category) == {
        "category": "must be one of transactional, otp, marketing"
    }


def test_the_category_is_part_of_what_an_idempotency_key_must_match() -> None:
    """A category other than the priority's own changes the fingerprint; the default one does
    not, so a key used before categories existed matches the same content after."""
    one = validate_message(RULES, to="+14155552671", body="hi", category="marketing")
    other = validate_message(RULES, to="+14155552671", body="hi")
    told_default = validate_message(RULES, to="+14155552671", body="hi", category="transactional")
    assert one.content_fingerprint() != other.content_fingerprint()
    assert told_default.content_fingerprint() == other.content_fingerprint()
    assert '"hi"' in other.content_fingerprint()
    assert "transactional" not in other.content_fingerprint()


# Smart encoding (messages.smart_encoding, on by default): the body, encoding, segments as sent.
SMART_OFF = RULES.model_copy(update={"smart_encoding": False})
TYPOGRAPHIC = (
    "Hi Sam, your order\u2019s on its way \u2014 track it at example.com/t/8F3K2 "
    "or call 0800 123 4567 at any time."
)  # 100 characters: 2 UCS-2 segments


def test_smart_encoding_sends_typographic_characters_as_gsm7() -> None:
    """The curly apostrophe and the em dash go as ' and -, in one GSM-7 segment."""
    assert RULES.smart_encoding
    message = validate_message(RULES, to="+14155552671", body=TYPOGRAPHIC)
    assert message.body == TYPOGRAPHIC.replace("\u2019", "'").replace("\u2014", "-")
    assert (message.encoding, message.segments, message.smart_encoded) == ("GSM-7", 1, True)


def test_smart_encoding_off_sends_the_body_as_written() -> None:
    message = validate_message(SMART_OFF, to="+14155552671", body=TYPOGRAPHIC)
    assert message.body == TYPOGRAPHIC
    assert (message.encoding, message.segments, message.smart_encoded) == ("UCS-2", 2, False)


def test_a_body_that_fits_only_smart_encoded_is_accepted() -> None:
    """The segment limit holds for the body as sent: 1 GSM-7 segment passes a limit of 1."""
    one = MessageSettings(max_segments=1)
    assert validate_message(one, to="+14155552671", body=TYPOGRAPHIC).segments == 1
    one_off = MessageSettings(max_segments=1, smart_encoding=False)
    with pytest.raises(InvalidMessage) as caught:
        validate_message(one_off, to="+14155552671", body=TYPOGRAPHIC)
    assert caught.value.fields == {"body": "takes 2 UCS-2 segments, over the limit of 1"}


@pytest.mark.parametrize(
    "body",
    [
        "plain GSM-7 text",
        "\u201cHi\u201d \U0001f600",  # the emoji keeps it UCS-2
        "\u2026" * 70,  # 1 UCS-2 segment, 2 once the ellipses are dots
        "\u200b",  # blank once the zero-width space is gone
    ],
)
def test_smart_encoding_leaves_other_bodies_as_written(body: str) -> None:
    message = validate_message(RULES, to="+14155552671", body=body)
    assert (message.body, message.smart_encoded) == (body, False)
    assert message.encoding == validate_message(SMART_OFF, to="+14155552671", body=body).encoding


def test_a_body_over_the_limit_even_smart_encoded_names_its_segments_as_sent() -> None:
    """Refused with the segments of the body it would send: GSM-7, not UCS-2."""
    reason = refused(to="+14155552671", body="\u2019" + "a" * 1540)["body"]
    assert reason == "takes 11 GSM-7 segments, over the limit of 10"


@given(
    body=st.text(
        alphabet=st.sampled_from(["a", " ", "\u2019", "\u201c", "\u2014", "\u2026", "\u00a0", "ж"]),
        min_size=1,
        max_size=1600,
    )
)
def test_smart_encoding_never_costs_a_segment(body: str) -> None:
    """Smart encoding accepts every body accepted without it, in no more segments; a body it
    changes is GSM-7, one it leaves is exactly what it is without it."""
    try:
        off = validate_message(SMART_OFF, to="+14155552671", body=body)
    except InvalidMessage:
        return
    on = validate_message(RULES, to="+14155552671", body=body)
    assert on.segments <= off.segments
    assert not off.smart_encoded
    if on.smart_encoded:
        assert on.encoding == "GSM-7"
        assert on.body != body
    else:
        assert on == off
