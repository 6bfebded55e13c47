"""SharedSlots: the slots `make bench-demo`'s runners (one per seed folder) share, granted by rank."""
import pytest

from signkd.pipeline import SharedSlots


def test_a_freed_slot_goes_to_the_best_ranked_waiter_not_the_first_to_ask():
    slots = SharedSlots(1)
    assert slots.try_acquire("seed 3", (3, 0))             # nobody waits: the free slot is taken
    assert not slots.try_acquire("seed 1", (1, 4))
    assert not slots.try_acquire("seed 0", (0, 2))
    assert (slots.held, slots.waiting) == (1, 2)
    slots.release()
    assert not slots.try_acquire("seed 1", (1, 4))         # polled first, but seed 0 waits with a better rank
    assert slots.try_acquire("seed 0", (0, 2))
    assert not slots.try_acquire("seed 1", (1, 4))
    slots.release()
    assert slots.try_acquire("seed 1", (1, 4))
    assert (slots.held, slots.waiting) == (1, 0)


def test_free_slots_beyond_the_better_waiters_are_not_held_back():
    slots = SharedSlots(2)
    assert slots.try_acquire("x", (9, 9)) and slots.try_acquire("y", (8, 0))
    assert slots.held == 2
    assert not slots.try_acquire("c", (2, 0))
    assert not slots.try_acquire("b", (1, 0))
    slots.release()
    slots.release()
    assert slots.try_acquire("c", (2, 0))                  # two free, one better waiter: one is c's
    assert not slots.try_acquire("d", (3, 0))              # the last free slot is b's
    assert slots.try_acquire("b", (1, 0))


def test_a_runner_that_stops_waiting_no_longer_holds_the_others_back():
    slots = SharedSlots(1)
    assert slots.try_acquire("owner", (5, 0))
    assert not slots.try_acquire("seed 0", (0, 0))
    assert not slots.try_acquire("seed 4", (4, 0))
    slots.release()
    slots.withdraw("seed 0")                                # e.g. its stage was skipped, or it was stopped
    assert slots.try_acquire("seed 4", (4, 0))


def test_more_releases_than_acquisitions_is_a_bug_not_a_new_slot():
    slots = SharedSlots(1)
    with pytest.raises(RuntimeError, match="released that was not taken"):
        slots.release()
    with pytest.raises(ValueError, match="at least one slot"):
        SharedSlots(0)
