"""The pipeline's room for sends in flight: a batch takes its room at once or waits; a ready
list's job takes what is free, at least one."""

from __future__ import annotations

import threading

from dispatcher.sending.pipeline import _Room


def test_take_up_to_takes_what_is_free_up_to_the_count() -> None:
    room = _Room(10)
    assert room.take_up_to(4) == 4
    assert room.take_up_to(50) == 6
    room.give(3)
    assert room.take_up_to(2) == 2
    assert room.take_up_to(50) == 1


def test_take_up_to_waits_for_room_for_one_only() -> None:
    """With nothing free it waits, and a give of one is enough to go on with one."""
    room = _Room(2)
    room.take(2)
    taken: list[int] = []
    waiter = threading.Thread(target=lambda: taken.append(room.take_up_to(50)))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # nothing free: it waits
    room.give(1)
    waiter.join(5)
    assert taken == [1]


def test_a_batch_waiting_for_its_room_is_not_starved_by_the_count() -> None:
    """A batch of 3 waits until 3 are free, whatever room is given back one at a time."""
    room = _Room(3)
    room.take(3)
    done = threading.Event()

    def take_three() -> None:
        room.take(3)
        done.set()

    waiter = threading.Thread(target=take_three)
    waiter.start()
    room.give(1)
    room.give(1)
    assert not done.wait(0.2)
    room.give(1)
    assert done.wait(5)
    waiter.join(5)
