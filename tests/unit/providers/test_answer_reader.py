"""The shared reader of send answers: an id on success, a code and a text on failure."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from providers.answers import read_coded_answer
from providers.base import HttpAnswer
from providers.outcome import PROVIDER_FAULT, REJECT, RETRY, OutcomeKind, Rule, Scope, Verdict

A, R, AMB, REJ, PE = (
    OutcomeKind.ACCEPTED,
    OutcomeKind.RETRYABLE,
    OutcomeKind.AMBIGUOUS,
    OutcomeKind.REJECTED,
    OutcomeKind.PROVIDER_ERROR,
)

TEXT_RULES: dict[str, Rule] = {"bad_number": REJECT, "blocked": PROVIDER_FAULT, "slow": RETRY}
INT_RULES: dict[int, Rule] = {1: REJECT, 2: PROVIDER_FAULT, 3: RETRY}


def answer(status: int, body: object = None, *, raw: bytes | None = None) -> HttpAnswer:
    """An answer with ``body`` as JSON, or ``raw`` bytes as they are."""
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return HttpAnswer(status=status, headers={"Retry-After": "4"}, body=data)


def read_text_coded(reply: HttpAnswer) -> Verdict:
    """Codes as strings at the top of the body, as Sinch sends them."""
    return read_coded_answer(
        reply, id_field="id", rules=TEXT_RULES, code_type=str, text_field="text"
    )


def read_int_coded(reply: HttpAnswer) -> Verdict:
    """Codes as integers at the top of the body, as Twilio sends them."""
    return read_coded_answer(
        reply, id_field="sid", rules=INT_RULES, code_type=int, text_field="message"
    )


def read_nested(reply: HttpAnswer) -> Verdict:
    """Codes as integers inside an ``errors`` object, as GoSMS sends them."""
    return read_coded_answer(
        reply,
        id_field="id",
        rules=INT_RULES,
        code_type=int,
        text_field="message",
        error_field="errors",
    )


@pytest.mark.parametrize(
    ("reply", "kind", "message_id", "reason"),
    [
        (answer(201, {"id": "b1"}), A, "b1", "http_201"),
        (answer(200, {"id": "b1", "code": "blocked"}), A, "b1", "http_200"),
        (answer(201, {"id": ""}), AMB, None, "http_201_without_id"),
        (answer(201, {"id": 7}), AMB, None, "http_201_without_id"),
        (answer(201, {"sid": "b1"}), AMB, None, "http_201_without_id"),
        (answer(201, [1, 2]), AMB, None, "http_201_without_id"),
        (answer(201, raw=b"not json"), AMB, None, "http_201_without_id"),
        (answer(204), A, None, "http_204_no_content"),
    ],
)
def test_success_reads_the_id_field(
    reply: HttpAnswer, kind: OutcomeKind, message_id: str | None, reason: str
) -> None:
    """A 2xx is accepted with the id from the named field, or ambiguous when there is none."""
    verdict = read_text_coded(reply)
    assert (verdict.kind, verdict.provider_message_id, verdict.reason) == (kind, message_id, reason)


READERS: dict[str, Callable[[HttpAnswer], Verdict]] = {
    "text": read_text_coded,
    "int": read_int_coded,
    "nested": read_nested,
}

# What a failure is about follows from its class.
SCOPES = {REJ: Scope.MESSAGE, PE: Scope.PROVIDER, R: Scope.PROVIDER}


@pytest.mark.parametrize(
    ("reader", "status", "body", "expected"),
    [
        # A known code decides below 500.
        ("text", 400, {"code": "blocked", "text": "no"}, (PE, "blocked", "no")),
        ("text", 403, {"code": "bad_number"}, (REJ, "bad_number", "http_403")),
        ("int", 400, {"code": 2, "message": "no"}, (PE, "2", "no")),
        ("int", 401, {"code": 1}, (REJ, "1", "http_401")),
        ("nested", 400, {"errors": {"code": 2, "message": "no"}}, (PE, "2", "no")),
        # At 500 and above the status decides; the code is still reported.
        ("text", 500, {"code": "bad_number"}, (R, "bad_number", "http_500")),
        ("int", 503, {"code": 1, "message": "down"}, (R, "1", "down")),
        ("nested", 502, {"errors": {"code": 2}}, (R, "2", "http_502")),
        # An unknown code leaves it to the status.
        ("text", 400, {"code": "other"}, (REJ, "other", "http_400")),
        ("int", 403, {"code": 99}, (PE, "99", "http_403")),
        ("text", 302, {"code": "blocked"}, (PE, "blocked", "http_302")),
        # A code of the wrong type is not a code.
        ("text", 400, {"code": 2}, (REJ, None, "http_400")),
        ("int", 400, {"code": "2"}, (REJ, None, "http_400")),
        ("int", 400, {"code": 2.0}, (REJ, None, "http_400")),
        # With an error field only the nested object counts, and without one it is not read.
        ("nested", 400, {"code": 2, "message": "top"}, (REJ, None, "http_400")),
        ("nested", 400, {"errors": [{"code": 2}]}, (REJ, None, "http_400")),
        ("int", 400, {"errors": {"code": 2}}, (REJ, None, "http_400")),
        # A text that is empty or not a string gives the status as the reason.
        ("int", 400, {"code": 1, "message": ""}, (REJ, "1", "http_400")),
        ("nested", 400, {"errors": {"code": 1, "message": 5}}, (REJ, "1", "http_400")),
        # A body that is not a JSON object says nothing.
        ("text", 400, b"not json", (REJ, None, "http_400")),
        ("nested", 404, None, (PE, None, "http_404")),
        ("int", 429, ["code", 1], (R, None, "http_429")),
    ],
)
def test_failure_reads_the_code_and_the_text(
    reader: str, status: int, body: object, expected: tuple[OutcomeKind, str | None, str]
) -> None:
    """A non-2xx is classified by its code's rule below 500, else by its status, with its text."""
    reply = answer(status, raw=body) if isinstance(body, bytes) else answer(status, body)
    verdict = READERS[reader](reply)
    assert (verdict.kind, verdict.provider_code, verdict.reason) == expected
    assert verdict.scope is SCOPES[verdict.kind]


@pytest.mark.parametrize(
    ("reply", "retry_after_s"),
    [
        (answer(400, {"code": 3}), 4.0),  # a retryable rule keeps Retry-After
        (answer(400, {"code": 1}), None),  # a rejecting rule drops it
        (answer(429, {"code": 99}), 4.0),  # a retryable status keeps it
        (answer(503, {"code": 1}), 4.0),  # a 5xx ignores the rule and keeps it
    ],
)
def test_retry_after_follows_the_outcome(reply: HttpAnswer, retry_after_s: float | None) -> None:
    """Retry-After is carried only when the verdict is retryable."""
    assert read_int_coded(reply).retry_after_s == retry_after_s
