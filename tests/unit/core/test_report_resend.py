"""Whether an undelivered report sends the message once more, and through which provider."""

from __future__ import annotations

import dataclasses

import pytest

from dispatcher.core.message_record import MessageRecord
from dispatcher.core.report_resend import ResendRules
from dispatcher.core.routing import Route
from dispatcher.core.states import MessageState
from tests.message_records import a_record

NOW = 1_764_000_000_000
RECORD = a_record(
    "01MSG",
    at_ms=NOW,
    to="+447700900123",
    state=MessageState.ACCEPTED,
    attempt_count=1,
    provider="sinch",
)


def _rules(*, every_route: bool = False, providers: frozenset[str] = frozenset()) -> ResendRules:
    return ResendRules(
        every_route=every_route,
        providers=providers,
        prefixes={"44": Route(("sinch", "vonage", "twilio"))},
        default=Route(("sinch", "twilio")),
        enabled=("sinch", "twilio", "vonage"),
    )


def test_the_next_provider_of_the_route_not_left() -> None:
    rules = _rules(every_route=True)
    assert rules.next_provider(RECORD, "sinch", temporary=True, now_ms=NOW) == "vonage"
    left_vonage = dataclasses.replace(RECORD, providers_left=("vonage",))
    assert rules.next_provider(left_vonage, "sinch", temporary=True, now_ms=NOW) == "twilio"
    own_list = dataclasses.replace(RECORD, providers=("sinch", "twilio"))
    assert rules.next_provider(own_list, "sinch", temporary=True, now_ms=NOW) == "twilio"


@pytest.mark.parametrize(
    ("record", "rules", "temporary", "now_ms"),
    [
        (RECORD, _rules(every_route=True), False, NOW),  # a permanent reason
        (RECORD, _rules(), True, NOW),  # not opted in
        (RECORD, _rules(providers=frozenset({"twilio"})), True, NOW),  # another provider opted in
        (dataclasses.replace(RECORD, resend_of_attempt=1), _rules(every_route=True), True, NOW),
        (RECORD, _rules(every_route=True), True, NOW + 60_000),  # its validity is over
        (
            dataclasses.replace(RECORD, providers_left=("vonage", "twilio")),
            _rules(every_route=True),
            True,
            NOW,
        ),  # nobody left
    ],
)
def test_no_resend(record: MessageRecord, rules: ResendRules, temporary: bool, now_ms: int) -> None:
    assert rules.next_provider(record, "sinch", temporary=temporary, now_ms=now_ms) is None


def test_a_provider_may_opt_in_alone() -> None:
    rules = _rules(providers=frozenset({"sinch"}))
    assert rules.applies_to("sinch")
    assert not rules.applies_to("twilio")
    assert rules.next_provider(RECORD, "sinch", temporary=True, now_ms=NOW) == "vonage"


def test_a_route_may_opt_in_alone() -> None:
    """Named routes resend; a message to another route, or with its own provider list, does
    not."""
    rules = dataclasses.replace(_rules(), routes=frozenset({"44"}))
    assert rules.applies_to("sinch")
    assert rules.next_provider(RECORD, "sinch", temporary=True, now_ms=NOW) == "vonage"
    to_us = dataclasses.replace(RECORD, to="+14155552671")
    assert rules.next_provider(to_us, "sinch", temporary=True, now_ms=NOW) is None
    own_list = dataclasses.replace(RECORD, providers=("sinch", "twilio"))
    assert rules.next_provider(own_list, "sinch", temporary=True, now_ms=NOW) is None
    default_only = dataclasses.replace(_rules(), routes=frozenset({"default"}))
    assert default_only.next_provider(to_us, "sinch", temporary=True, now_ms=NOW) == "twilio"
    assert default_only.next_provider(RECORD, "sinch", temporary=True, now_ms=NOW) is None
