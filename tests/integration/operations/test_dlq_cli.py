"""`smsdispatch dlq list|show|replay|purge` on dead letters made by the real courier."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from dispatcher.cli import main
from dispatcher.config.settings import Settings
from dispatcher.core.time_input import parse_since
from dispatcher.intake.enqueue import Dispatcher
from dispatcher.sending.send_bridge import SendBridge
from providers.simulator import ScriptedAnswer
from tests.conftest import RunningSimulator
from tests.send_path_helpers import DirectCourier

BAD = "+14155550100"


@pytest.fixture
def dead_letters(
    settings: Settings, dispatcher: Dispatcher, simulator: RunningSimulator
) -> Iterator[list[str]]:
    """Three dead letters: two rejected by Sinch, one expired."""
    simulator.state.script(
        BAD,
        [ScriptedAnswer(400, body={"code": "syntax_invalid_parameter_format", "text": "bad"})],
        repeat_last=True,
    )
    bridge = SendBridge(connections_per_provider=2)
    courier = DirectCourier(settings, dispatcher, bridge)
    ids = [dispatcher.send_sms(BAD, f"r{i}") for i in range(2)]
    for message_id in ids:
        courier.deliver(message_id)
    expired = dispatcher.send_sms("+14155552671", "late", validity=1)
    DirectCourier(settings, dispatcher, bridge, clock_ms=lambda: 2**42).deliver(expired)
    yield [*ids, expired]
    bridge.close()


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_list_filters_and_json(dead_letters: list[str]) -> None:
    """list shows every dead letter; --reason and --json narrow and format it."""
    table = run("dlq", "list")
    assert "3 dead letters in all" in table
    assert all(message_id in table for message_id in dead_letters)
    assert "4155550100" not in table  # numbers masked
    rows = [
        json.loads(line)
        for line in run("dlq", "list", "--reason", "expired", "--json").splitlines()
    ]
    assert [row["id"] for row in rows] == [dead_letters[2]]
    rejected = run("dlq", "list", "--reason", "rejected", "--provider", "sinch", "--json")
    assert len(rejected.splitlines()) == 2
    assert run("dlq", "list", "--since", "1h", "--json").count("\n") == 3
    paged = run("dlq", "list", "--limit", "1", "--offset", "1", "--json").splitlines()
    assert len(paged) == 1


def test_show_has_every_attempt(dead_letters: list[str]) -> None:
    """show prints the dead letter with its attempts and reason, without the body."""
    shown = json.loads(run("dlq", "show", dead_letters[0]))
    assert shown["final_reason"] == "rejected"
    assert shown["attempts"][0]["provider_code"] == "syntax_invalid_parameter_format"
    assert "body" not in shown


def test_replay_links_and_leaves_the_store(dead_letters: list[str], dispatcher: Dispatcher) -> None:
    """replay creates a new queued message linked to the original, which leaves the dead letters."""
    output = run("dlq", "replay", dead_letters[0])
    original, _, replacement = output.strip().partition(" -> ")
    assert original == dead_letters[0]
    status = dispatcher.get_status(replacement)
    assert (status["state"], status["replay_of"]) == ("queued", original)
    assert dead_letters[0] not in run("dlq", "list")
    again = CliRunner().invoke(main, ["dlq", "replay", dead_letters[0]])
    assert again.exit_code == 1
    assert "not in the dead letters" in again.output


def test_replay_all_with_filter(dead_letters: list[str]) -> None:
    """replay --all --reason rejected --yes replays exactly the two rejected ones."""
    output = run("dlq", "replay", "--all", "--reason", "rejected", "--yes")
    assert sorted(line.split(" -> ")[0] for line in output.splitlines()) == sorted(dead_letters[:2])
    assert "1 dead letters in all" in run("dlq", "list")


def test_purge_needs_yes(dead_letters: list[str], dispatcher: Dispatcher) -> None:
    """purge without --yes refuses; with it the dead letter is gone for good."""
    refused = CliRunner().invoke(main, ["dlq", "purge", dead_letters[1]])
    assert refused.exit_code == 2
    assert "--yes" in refused.output
    assert "purged 1" in run("dlq", "purge", dead_letters[1], "--yes")
    assert dispatcher.store.get(dead_letters[1]) is None
    assert "purged 2" in run("dlq", "purge", "--all", "--yes")
    assert "0 dead letters in all" in run("dlq", "list")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", 1_000_000 - 1_800_000),
        ("2h", 1_000_000 - 7_200_000),
        ("1764000000000", 1764000000000),
        ("2026-11-25T00:00:00Z", 1_795_564_800_000),
        ("2026-11-25T00:00:00", 1_795_564_800_000),
    ],
)
def test_parse_since(text: str, expected: int) -> None:
    """--since takes durations ago, epoch ms and ISO 8601 times (UTC when no zone is given)."""
    assert parse_since(text, now_ms=1_000_000) == expected
