"""Classification of provider answers: every status of every provider document; Sinch's bodies."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from providers.adapters.sinch import ERROR_CODES, SinchProvider, SinchSettings
from providers.base import HttpAnswer, OutboundSms
from providers.outcome import (
    OutcomeKind,
    Scope,
    TransportFailure,
    TransportPhase,
    classify_status,
    classify_transport,
    parse_retry_after_s,
)

A, R, AMB, REJ, PE = (
    OutcomeKind.ACCEPTED,
    OutcomeKind.RETRYABLE,
    OutcomeKind.AMBIGUOUS,
    OutcomeKind.REJECTED,
    OutcomeKind.PROVIDER_ERROR,
)

# Every status code named in shared/providers/*.txt, plus codes no document names.
STATUS_TABLE = [
    (200, A),
    (201, A),
    (202, A),
    (204, A),
    (400, REJ),
    (401, PE),
    (403, PE),
    (404, PE),
    (405, PE),
    (409, REJ),
    (415, PE),
    (408, R),
    (429, R),
    (500, R),
    (502, R),
    (503, R),
    (504, R),
    (523, R),
    # not in any document
    (418, REJ),
    (422, REJ),
    (451, REJ),
    (501, R),
    (507, R),
    (599, R),
    (302, REJ),
    (100, REJ),
]


@pytest.mark.parametrize(("status", "kind"), STATUS_TABLE)
def test_status_alone(status: int, kind: OutcomeKind) -> None:
    """An answer whose body says nothing more is classified by its status alone."""
    assert classify_status(status).kind is kind


def test_provider_errors_are_scoped_to_the_provider() -> None:
    """401/403/404/405/415 are about the provider (fail over), 400 about the message."""
    assert classify_status(401).scope is Scope.PROVIDER
    assert classify_status(400).scope is Scope.MESSAGE


@pytest.mark.parametrize(
    ("phase", "kind"),
    [(TransportPhase.BEFORE_SEND, R), (TransportPhase.AFTER_SEND, AMB)],
)
def test_transport_failures(phase: TransportPhase, kind: OutcomeKind) -> None:
    """Nothing sent: retryable. Maybe sent, no answer: ambiguous."""
    assert classify_transport(TransportFailure(phase, "ClientConnectorError")).kind is kind


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"retry-after": " 120 "}, 120.0),
        ({"Retry-After": "Wed, 25 Nov 2026 06:00:30 GMT"}, 30.0),
        ({"Retry-After": "Wed, 25 Nov 2026 05:00:00 GMT"}, 0.0),  # in the past
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "\u00b2"}, None),  # a digit to str.isdigit, not to RFC 9110
        ({"Retry-After": "\u0661\u0662"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    """Retry-After as delta-seconds or HTTP date (RFC 9110)."""
    now = datetime(2026, 11, 25, 6, 0, 0, tzinfo=UTC)
    assert parse_retry_after_s(headers, now=now) == expected


# --- Sinch (shared/providers/001_*, 004_*) -------------------------------------------------

SINCH = SinchProvider(
    SinchSettings(name="sinch", service_plan_id="plan1", api_token="tok-secret", timeout_s=5)
)


def sinch_answer(
    status: int,
    body: object = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> HttpAnswer:
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return HttpAnswer(status=status, headers=headers or {}, body=data)


SINCH_TABLE = [
    # status, body, kind, scope, provider_code
    (201, {"id": "01FC66621XXXXX119Z8PMV1QPQ"}, A, None, None),
    (200, {"id": "9dfn32n423kljklj234"}, A, None, None),
    (
        400,
        {"code": "syntax_invalid_json", "text": "bad"},
        REJ,
        Scope.MESSAGE,
        "syntax_invalid_json",
    ),
    (
        400,
        {"code": "syntax_invalid_parameter_format", "text": "MSISDN"},
        REJ,
        Scope.MESSAGE,
        "syntax_invalid_parameter_format",
    ),
    (
        400,
        {"code": "syntax_constraint_violation", "text": "x"},
        REJ,
        Scope.MESSAGE,
        "syntax_constraint_violation",
    ),
    (401, None, PE, Scope.PROVIDER, None),
    (403, {"code": "blocked_account", "text": "blocked"}, PE, Scope.PROVIDER, "blocked_account"),
    (403, {"code": "illegal_number_type", "text": "x"}, REJ, Scope.MESSAGE, "illegal_number_type"),
    (
        403,
        {"code": "missing_callback_url", "text": "x"},
        PE,
        Scope.PROVIDER,
        "missing_callback_url",
    ),
    (403, {"code": "unknown_group", "text": "x"}, PE, Scope.PROVIDER, "unknown_group"),
    (403, {"code": "unknown_campaign", "text": "x"}, PE, Scope.PROVIDER, "unknown_campaign"),
    (404, None, PE, Scope.PROVIDER, None),  # documented: no body
    (405, None, PE, Scope.PROVIDER, None),
    (415, None, PE, Scope.PROVIDER, None),
    (429, None, R, Scope.PROVIDER, None),
    (500, None, R, Scope.PROVIDER, None),
    (503, None, R, Scope.PROVIDER, None),
    # undocumented shapes
    (400, {"code": "brand_new_code", "text": "?"}, REJ, Scope.MESSAGE, "brand_new_code"),
    (403, {"code": "brand_new_code", "text": "?"}, PE, Scope.PROVIDER, "brand_new_code"),
    (502, {"code": "syntax_invalid_json"}, R, Scope.PROVIDER, "syntax_invalid_json"),
]


@pytest.mark.parametrize(("status", "body", "kind", "scope", "code"), SINCH_TABLE)
def test_sinch_answers(
    status: int, body: object, kind: OutcomeKind, scope: Scope | None, code: str | None
) -> None:
    """Each documented Sinch status and error code maps to its outcome class and scope."""
    verdict = SINCH.read_send_answer(sinch_answer(status, body))
    assert (verdict.kind, verdict.scope, verdict.provider_code) == (kind, scope, code)


def test_every_documented_sinch_code_is_in_the_table() -> None:
    """The adapter's code table holds exactly the codes of Sinch's documents."""
    documented = {
        "syntax_invalid_json",
        "syntax_invalid_parameter_format",
        "syntax_constraint_violation",
        "unknown_group",
        "unknown_campaign",
        "missing_callback_url",
        "blocked_account",
        "illegal_number_type",
    }
    assert set(ERROR_CODES) == documented


@pytest.mark.parametrize(
    ("status", "raw", "kind"),
    [
        (201, b"", AMB),  # created but no batch id: the batch may exist
        (201, b"<html>ok</html>", AMB),
        (201, b'{"id": ""}', AMB),
        (201, b"[1, 2]", AMB),
        (400, b"not json", REJ),
        (400, b"", REJ),
        (502, b"<html><body>Bad Gateway</body></html>", R),
        (503, b'{"code": 12', R),  # truncated JSON
        (429, b"\xff\xfe", R),
    ],
)
def test_sinch_unparseable_bodies_fall_back_to_status(
    status: int, raw: bytes, kind: OutcomeKind
) -> None:
    """Anything unparseable is classified by status alone (a 2xx without an id is ambiguous)."""
    assert SINCH.read_send_answer(sinch_answer(status, raw=raw)).kind is kind


def test_sinch_retry_after_is_honoured_when_present() -> None:
    """Sinch documents no Retry-After, but one that appears is read."""
    verdict = SINCH.read_send_answer(sinch_answer(429, None, headers={"Retry-After": "2"}))
    assert verdict.retry_after_s == 2.0


def test_sinch_accepted_carries_the_batch_id() -> None:
    """The provider message id is the batch's top-level id."""
    verdict = SINCH.read_send_answer(sinch_answer(201, {"id": "01FC66621XXXXX119Z8PMV1QPQ"}))
    assert verdict.provider_message_id == "01FC66621XXXXX119Z8PMV1QPQ"


def test_sinch_request_shape() -> None:
    """The request is Sinch's batch: bearer token, JSON, E.164 list, our id as client_reference."""
    request = SINCH.build_send(
        OutboundSms(
            message_id="01M88N7QGQ5MDYC92HSW6W7V2X",
            to_e164="+14155552671",
            body="hello",
            sender="Acme",
            encoding="GSM-7",
            segments=1,
            valid_until_ms=4102444800000,  # 2100-01-01: capped at 3 days from now
        )
    )
    assert request.method == "POST"
    assert request.url == "https://us.sms.api.sinch.com/xms/v1/plan1/batches"
    assert request.headers["Authorization"] == "Bearer tok-secret"
    assert request.headers["Content-Type"] == "application/json"
    assert request.json["to"] == ["+14155552671"]
    assert request.json["body"] == "hello"
    assert request.json["from"] == "Acme"
    assert request.json["client_reference"] == "01M88N7QGQ5MDYC92HSW6W7V2X"
    expire_at = datetime.fromisoformat(request.json["expire_at"].replace("Z", "+00:00"))
    assert (expire_at - datetime.now(UTC)).total_seconds() <= 3 * 86400
    assert SINCH.redacted_secrets() == ("tok-secret",)


def test_sinch_expire_at_is_the_validity_to_the_millisecond() -> None:
    valid_until_ms = int(datetime.now(UTC).timestamp() * 1000) + 60_000 + 7
    request = SINCH.build_send(
        OutboundSms(
            message_id="01M88N7QGQ5MDYC92HSW6W7V2X",
            to_e164="+14155552671",
            body="hello",
            sender=None,
            encoding="GSM-7",
            segments=1,
            valid_until_ms=valid_until_ms,
        )
    )
    seconds, millis = divmod(valid_until_ms, 1000)
    expected = datetime.fromtimestamp(seconds, UTC) + timedelta(milliseconds=millis)
    assert request.json["expire_at"] == (
        expected.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


# --- every status of every provider document -------------------------------------------------

DOCUMENTED_STATUSES = {
    "000": {200, 201, 204, 400, 401, 403, 404, 429, 500},  # GoSMS
    "001": {200, 201, 400, 401, 403, 404, 405, 415, 429, 500, 503},  # Sinch
    "002": {400, 401},  # YellowPush
    "003": {
        200,
        201,
        202,
        204,
        400,
        401,
        403,
        404,
        405,
        409,
        429,
        500,
        502,
        503,
        504,
        523,
    },  # Cecula
    "004": {200, 201, 400, 401, 403, 404, 405, 415, 429, 500, 503},  # Sinch
}
PROVIDER_DOCS = Path(__file__).resolve().parents[4] / "shared" / "providers"
_STATUS_IN_DOC = re.compile(
    r"(?<![\w.+-])([1-5]\d\d)(?=(?:&nbsp;|\s)+(?:[A-Z][a-z]|[A-Z]{2}|\|)|\s*\(|\s*-\s)"
)


@pytest.mark.parametrize("document", sorted(DOCUMENTED_STATUSES))
def test_every_documented_status_is_in_the_table(document: str) -> None:
    """The status table classifies every status code each provider document names."""
    assert DOCUMENTED_STATUSES[document] <= {status for status, _ in STATUS_TABLE}


@pytest.mark.skipif(
    not PROVIDER_DOCS.is_dir(), reason="shared/providers is not beside this checkout"
)
@pytest.mark.parametrize("document", sorted(DOCUMENTED_STATUSES))
def test_documented_statuses_match_the_documents(document: str) -> None:
    """The lists above are exactly the codes found in shared/providers/<document>_*.txt."""
    (path,) = PROVIDER_DOCS.glob(f"{document}_*.txt")
    found = {int(code) for code in _STATUS_IN_DOC.findall(path.read_text(encoding="utf-8"))}
    assert found == DOCUMENTED_STATUSES[document]
