"""``smsdispatch opt-out`` on the test Redis."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from dispatcher.cli import main
from dispatcher.intake.enqueue import Dispatcher


def test_add_list_remove_import(dispatcher: Dispatcher, tmp_path: Path) -> None:
    runner = CliRunner()
    added = runner.invoke(main, ["opt-out", "add", "+14155552671"])
    assert (added.exit_code, added.output.strip()) == (0, "+14155552671: added")
    assert dispatcher.opt_outs.blocks("+14155552671")
    again = runner.invoke(main, ["opt-out", "add", "+14155552671"])
    assert "already on the list" in again.output

    listed = runner.invoke(main, ["opt-out", "list", "--json"])
    entries = [json.loads(line) for line in listed.output.splitlines()]
    assert [(e["number"], e["source"]) for e in entries] == [("+14155552671", "cli")]

    removed = runner.invoke(main, ["opt-out", "remove", "+14155552671"])
    assert removed.exit_code == 0
    assert not dispatcher.opt_outs.blocks("+14155552671")
    missing = runner.invoke(main, ["opt-out", "remove", "+14155552671"])
    assert missing.exit_code == 1

    listing = tmp_path / "list.csv"
    listing.write_text("+14155552671\n# comment\n+14155552672\nnot-a-number\n", encoding="utf-8")
    imported = runner.invoke(main, ["opt-out", "import", str(listing)])
    assert imported.exit_code == 1  # one line refused
    assert "added 2, already on the list 0, refused 1" in imported.output
    assert "line 4:" in imported.output
    assert dispatcher.opt_outs.page()["total"] == 2

    bad = runner.invoke(main, ["opt-out", "add", "12"])
    assert bad.exit_code == 1
    assert "number:" in bad.output
