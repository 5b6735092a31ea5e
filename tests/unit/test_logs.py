"""Log privacy: numbers masked, secrets and bodies never written."""

from __future__ import annotations

import json

import pytest
import structlog

from dispatcher import logs
from dispatcher.core.masking import mask_number
from dispatcher.logs import configure_logging, get_logger, redact, register_secrets


def run(event: dict[str, object]) -> dict[str, object]:
    return dict(redact(None, "info", event))


def test_full_numbers_in_free_text_are_masked() -> None:
    """Any E.164-like or national digit run keeps only its last four digits."""
    out = run({"event": "x", "note": "sent to +14155552671 and 020 7946 0958"})
    assert "4155552671" not in str(out["note"])
    assert "+*******2671" in str(out["note"])
    assert "0958" in str(out["note"])
    assert "7946" not in str(out["note"])


def test_ids_and_timestamps_are_left_alone() -> None:
    """A ULID with digits inside, and integers such as timestamps, are not masked."""
    out = run({"event": "x", "message_id": "01M88N7QGQ5MDYC92HSW6W7V2X", "at_ms": 1764051038793})
    assert out["message_id"] == "01M88N7QGQ5MDYC92HSW6W7V2X"
    assert out["at_ms"] == 1764051038793


def test_secret_fields_and_body_are_removed() -> None:
    """Fields named like secrets, and the SMS body, are replaced."""
    out = run({"event": "x", "api_token": "abc", "Authorization": "Bearer abc", "body": "hi"})
    assert out["api_token"] == out["Authorization"] == out["body"] == "[redacted]"


def test_registered_secret_values_are_scrubbed_anywhere() -> None:
    """A provider token that shows up inside another field is cut out."""
    register_secrets(["sk-live-9a8b7c6d"])
    out = run({"event": "x", "url": "https://api.example/?token=sk-live-9a8b7c6d"})
    assert "sk-live-9a8b7c6d" not in str(out["url"])


def test_a_secret_registered_later_is_scrubbed_from_text_seen_before() -> None:
    """A value scrubbed once is remembered, until a secret is registered: the same text is then
    scrubbed again with it."""
    text = "provider answered: bad key late-secret-5b1e"
    assert logs.scrub(text) == text
    register_secrets(["late-secret-5b1e"])
    assert logs.scrub(text) == "provider answered: bad key [redacted]"


def test_mask_number() -> None:
    """Only the last four digits stay."""
    assert mask_number("+14155552671") == "+*******2671"
    assert mask_number("79999999999") == "*******9999"
    assert mask_number("123") == "***"


def test_fields_are_written_at_levels_in_use_and_bound_only_then(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """At WARNING an info line writes nothing (its fields are never bound); a warning line
    carries the fields given to get_logger and to bind, masked like any other line."""
    monkeypatch.setattr(logs, "_base", None)  # put back as it was after the test
    monkeypatch.setattr(logs, "_probe", None)
    configure_logging("json", "WARNING")
    try:
        log = get_logger(message_id="m1", to="+14155552671").bind(provider="sinch")
        assert log.info("sms.accepted", attempt=1) is None
        log.warning("sms.lease_lost", state="accepted")
        lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        structlog.reset_defaults()
    assert [line["event"] for line in lines] == ["sms.lease_lost"]
    (line,) = lines
    assert (line["message_id"], line["provider"], line["state"]) == ("m1", "sinch", "accepted")
    assert line["to"] == "+*******2671"
    assert line["level"] == "warning"
