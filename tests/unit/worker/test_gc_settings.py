"""The worker's garbage collector settings: start-up objects frozen, young threshold set."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from dispatcher.worker.gc_settings import settle_collector


@pytest.fixture
def collector_restored() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("collector_restored")
def test_start_up_objects_are_frozen_and_the_young_threshold_set() -> None:
    gc.unfreeze()
    kept = [[i] for i in range(1000)]  # containers alive at start-up
    frozen = settle_collector(12_345)
    assert frozen == gc.get_freeze_count()
    assert frozen >= len(kept)
    assert gc.get_threshold()[0] == 12_345
    # A frozen object is in no generation a collection scans.
    assert not any(obj is kept[0] for obj in gc.get_objects())


@pytest.mark.usefixtures("collector_restored")
def test_a_zero_threshold_keeps_pythons_own() -> None:
    before = gc.get_threshold()
    settle_collector(0)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() > 0
