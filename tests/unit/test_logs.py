"""Log privacy: numbers masked, secrets and bodies never written."""

from __future__ import annotations

from dispatcher.logs import redact, register_secrets
from dispatcher.records import mask_number


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


def test_mask_number() -> None:
    """Only the last four digits stay."""
    assert mask_number("+14155552671") == "+*******2671"
    assert mask_number("79999999999") == "*******9999"
    assert mask_number("123") == "***"
