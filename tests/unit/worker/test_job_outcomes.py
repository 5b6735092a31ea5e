"""What a send job does when Redis is out of reach, or out of memory."""

from __future__ import annotations

from typing import NoReturn

import pytest
from celery.exceptions import Reject

from dispatcher.errors import StoreOutOfMemoryError, StoreUnavailableError
from dispatcher.worker import tasks


def raising(error: Exception) -> NoReturn:
    raise error


@pytest.fixture(autouse=True)
def no_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks, "_REDIS_DOWN_PAUSE_S", 0.0)


def test_a_job_that_ran_returns_its_result() -> None:
    assert tasks._run_job(lambda: 7, 0, task_id="t1") == 7


def test_a_job_redis_could_not_be_reached_for_goes_back_to_its_queue() -> None:
    with pytest.raises(Reject) as rejected:
        tasks._run_job(lambda: raising(StoreUnavailableError("ConnectionError", "refused")), 0)
    assert rejected.value.requeue is True


def test_a_job_refused_for_memory_is_acknowledged_unrun() -> None:
    """Handing it back would be a write a full Redis refuses too: it ends (acknowledged, which
    only deletes) and its messages wait where they are for a new job."""
    error = StoreOutOfMemoryError("OutOfMemoryError", "command not allowed")
    assert tasks._run_job(lambda: raising(error), "not_claimed", task_id="t2") == "not_claimed"
