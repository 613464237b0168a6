"""The chat writer's watch over its requests' deadlines (storage/mongo/wire.py, `_Wire`), on
uvloop, the loop Nirvana serves on: a request the store leaves unanswered is failed by one
round of the watchdog, not by a loop that burns the process's CPU until the clock ticks."""

from __future__ import annotations

import asyncio
import socket
from functools import partial

import pytest
from pymongo.errors import NetworkTimeout

from nirvana.storage.mongo.wire import _Wire

uvloop = pytest.importorskip("uvloop")  # not installed on Windows or PyPy (pyproject.toml)

EMPTY_DOCUMENT = b"\x05\x00\x00\x00\x00"


def test_an_unanswered_request_fails_in_one_round_of_the_watchdog(monkeypatch) -> None:
    """uvloop's clock is whole milliseconds and it rounds a timer's delay to one: a timeout
    of 10.4 ms fires at 10 ms, inside its deadline's millisecond, before the deadline. The
    request is late then; re-armed instead, the timer's delay rounds to 0 and it runs again
    at once until the millisecond ends."""
    rounds: list[int] = []
    watch = _Wire._watch

    def counted(self: _Wire) -> None:
        rounds[-1] += 1
        watch(self)

    monkeypatch.setattr(_Wire, "_watch", counted)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(10):  # a round that fires a millisecond late would not tell
            rounds.append(0)
            ours, store = socket.socketpair()  # a store that never answers
            try:
                _, wire = await loop.create_connection(partial(_Wire, 0.0104), sock=ours)
                with pytest.raises(NetworkTimeout):
                    await wire.command(EMPTY_DOCUMENT)
                assert wire.lost  # dropped: no late reply can answer a later request
            finally:
                store.close()

    uvloop.run(main())
    assert rounds == [1] * 10
