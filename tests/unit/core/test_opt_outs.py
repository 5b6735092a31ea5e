"""The pure parts of opt-outs: keyword matching, sender keys, the entries a message is checked
against."""

from __future__ import annotations

import string

from hypothesis import assume, given
from hypothesis import strategies as st

from dispatcher.config.settings import OptOutSettings
from dispatcher.core.opt_outs import (
    keyword_action,
    message_digests,
    opt_out_digest,
    sender_key,
)

RULES = OptOutSettings()


def action(text: str) -> str | None:
    return keyword_action(
        text, stop=RULES.stop_keywords, start=RULES.start_keywords, help_words=RULES.help_keywords
    )


def test_the_default_keywords_each_ask_for_their_action() -> None:
    assert [action(w) for w in ("STOP", "stopall", "Unsubscribe", "cancel", "END", "quit")] == [
        "stop"
    ] * 6
    assert [action(w) for w in ("START", "unstop", "Yes")] == ["start"] * 3
    assert [action(w) for w in ("HELP", "info")] == ["help"] * 2


@given(
    word=st.sampled_from(RULES.stop_keywords),
    before=st.text(alphabet=" \t\r\n", max_size=4),
    after=st.text(alphabet=" \t\r\n", max_size=4),
    flips=st.lists(st.booleans(), min_size=12, max_size=12),
)
def test_a_stop_word_in_any_case_with_any_blank_around_it_stops(
    word: str, before: str, after: str, flips: list[bool]
) -> None:
    mixed = "".join(c.lower() if flip else c for c, flip in zip(word, flips, strict=False))
    assert action(before + mixed + after) == "stop"


ALL_WORDS = RULES.stop_keywords + RULES.start_keywords + RULES.help_keywords


@given(
    word=st.sampled_from(ALL_WORDS),
    extra=st.text(alphabet=string.ascii_letters + string.digits + "!?.", min_size=1, max_size=20),
)
def test_a_keyword_inside_a_longer_text_asks_for_nothing(word: str, extra: str) -> None:
    assume(extra.casefold() not in {w.casefold() for w in ALL_WORDS})
    assert action(f"{word} {extra}") is None
    assert action(f"{extra} {word}") is None


def test_an_ordinary_text_and_an_empty_one_ask_for_nothing() -> None:
    assert action("please stop sending me these") is None
    assert action("   ") is None
    assert action("") is None


def test_configured_words_replace_the_defaults() -> None:
    assert keyword_action("ARRET", stop=("ARRET",), start=(), help_words=()) == "stop"
    assert keyword_action("STOP", stop=("ARRET",), start=(), help_words=()) is None


def test_a_sender_number_is_one_sender_with_or_without_its_plus() -> None:
    assert sender_key("+447700900001") == sender_key("447700900001") == "447700900001"
    assert sender_key("Acme") == sender_key("ACME") == "acme"
    assert sender_key(None) == sender_key("") == ""


def test_under_global_scope_a_message_is_checked_against_one_entry_for_every_sender() -> None:
    assert message_digests("+14155552671", "Acme", scope="global") == (
        opt_out_digest("+14155552671"),
    )


def test_under_sender_scope_a_message_is_checked_against_its_sender_and_every_sender() -> None:
    digests = message_digests("+14155552671", "Acme", scope="sender")
    assert digests == (opt_out_digest("+14155552671"), opt_out_digest("+14155552671", "ACME"))
    assert message_digests("+14155552671", None, scope="sender") == (
        opt_out_digest("+14155552671"),
    )


def test_digests_differ_by_number_and_by_sender_and_hold_no_number() -> None:
    digests = {
        opt_out_digest("+14155552671"),
        opt_out_digest("+14155552672"),
        opt_out_digest("+14155552671", "Acme"),
        opt_out_digest("+14155552671", "Other"),
    }
    assert len(digests) == 4
    assert all("4155552671" not in d for d in digests)
