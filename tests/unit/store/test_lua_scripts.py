"""The store's Lua scripts: each loads by name, and what they spell agrees with the Python side."""

from __future__ import annotations

import re

import pytest

from dispatcher.core.circuit import OUTCOMES
from dispatcher.core.latency import LATENCY_BUCKETS_MS
from dispatcher.core.names import PRIORITY_QUEUES
from dispatcher.core.states import NOT_TO_BE_SENT
from dispatcher.queueing.job_payloads import MESSAGE_MARK, QUEUE_MARK, TASK_MARK
from dispatcher.store.gates import WINDOW_SLOTS
from dispatcher.store.lua_scripts import LUA_DIR, lua_source

SCRIPTS = sorted(path.stem for path in LUA_DIR.glob("*.lua"))


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_loads_with_its_helpers_put_in(name: str) -> None:
    """A script's text has no include line left, and each helper it names is in it."""
    raw = (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")
    text = lua_source(name)
    assert "--#include" not in text
    for helper in re.findall(r"^--#include (\w+)$", raw, re.MULTILINE):
        assert lua_source(helper) in text


def test_an_unknown_script_is_refused() -> None:
    """A name with no file raises, rather than registering an empty script."""
    with pytest.raises(FileNotFoundError):
        lua_source("no_such_script")


@pytest.mark.parametrize("name", SCRIPTS)
def test_no_script_spells_a_queue_name(name: str) -> None:
    """Queue names reach the scripts as arguments: none is written inside one."""
    text = lua_source(name)
    for queue in PRIORITY_QUEUES.values():
        assert queue not in text
    assert "'sms." not in text


def test_the_claim_knows_the_states_not_to_be_sent() -> None:
    """claim_lib's table of states whose jobs send nothing is NOT_TO_BE_SENT."""
    table = re.search(r"local done = \{(.*?)\}", lua_source("claim_lib"), re.DOTALL)
    assert table is not None
    assert set(re.findall(r"(\w+) = true", table.group(1))) == {s.value for s in NOT_TO_BE_SENT}


def test_fill_job_replaces_the_markers_of_the_job_template() -> None:
    """fill_job.lua replaces exactly the three markers job_payloads writes into a template."""
    found = set(re.findall(r"string\.gsub\(\w+, '(\w+)'", lua_source("fill_job")))
    assert found == {TASK_MARK, MESSAGE_MARK, QUEUE_MARK}


def test_the_window_slots_agree_with_the_gates_and_the_latency_buckets() -> None:
    """window_slots_lib keeps as many slots as the gates read, a histogram bucket for each
    latency bound and the rest, and an hour count for every outcome class."""
    text = lua_source("window_slots_lib")
    assert f"local WINDOW_SLOTS = {WINDOW_SLOTS}\n" in text
    assert f"local LATENCY_BOUNDS = {len(LATENCY_BUCKETS_MS)}\n" in text
    assert re.findall(r"m \.\. ':(\w+)'", text) == list(OUTCOMES)
