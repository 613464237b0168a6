"""Nirvana with chat persistence off, for `make bench` only: `python -m bench.volatile_nirvana`.

Exactly run.py, except that the chat writer neither inserts messages nor writes
conversation summaries (so it never meets a stored retry either): it gives each message its
seq and position and acknowledges it, its commits spaced as run.py spaces them. Every other
step of a send (validation, membership, the writer's queue, the ack, fan-out to every
device) is the same code, so "persistence on vs off" measures what storing costs. Messages
sent this way are gone after a restart; never run it for real.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nirvana.storage.mongo import chat_store
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.summaries import Summaries
from nirvana.storage.mongo.summary_buffer import SummaryBuffer
from nirvana.storage.mongo.wire import WireInserts


def _insert_nothing(db: ChatCollections):
    async def insert(docs: list) -> None:
        return None
    return insert


async def _insert_nothing_either(self: WireInserts, docs: list) -> None:
    return None  # the writer's own connection (the embedded store's) writes nothing either


async def _drop_summaries(self: Summaries) -> None:
    self._buffer = SummaryBuffer()


def main() -> None:
    chat_store.insert_messages = _insert_nothing  # type: ignore[assignment]
    WireInserts.__call__ = _insert_nothing_either  # type: ignore[method-assign]
    Summaries.flush = _drop_summaries  # type: ignore[method-assign]
    import run

    print("bench: chat persistence is OFF in this process (bench.volatile_nirvana)",
          file=sys.stderr, flush=True)
    run.main()


if __name__ == "__main__":
    main()
