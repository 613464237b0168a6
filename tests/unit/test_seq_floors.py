"""The floors conversation reads leave the writer's highest-seq reads (last_seqs.py)."""

from __future__ import annotations

from nirvana.storage.mongo.last_seqs import SeqFloors


def test_floors_are_bounded_and_the_oldest_offered_go_first():
    floors = SeqFloors(kept=2)
    floors.offer("a", 1)
    floors.offer("b", 2)
    floors.offer("a", 3)  # offered again: now the newest
    floors.offer("c", 4)
    assert floors.take(["a", "b", "c"]) == {"a": 3, "c": 4}


def test_a_floor_never_goes_down_and_serves_one_read():
    floors = SeqFloors()
    floors.offer("a", 5)
    floors.offer("a", 3)  # a read that began earlier, answered later
    assert floors.take(["a", "b"]) == {"a": 5}
    assert floors.take(["a"]) == {}
