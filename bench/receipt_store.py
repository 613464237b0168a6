"""What a receipt costs the embedded MongoDB-wire store, committed as the chat writer commits
a run of them (storage/mongo/receipt_commits.py).

    .venv/bin/python -m bench.receipt_store [--conversations 20] [--members 10] [--rounds 5]
                                            [--per message|run]

Starts a throwaway durable embedded store (bench/embedded.py), declares the chat store's
documents and indexes as a start does (`init_documents`), creates `conversations` groups of
`members`, and commits one `delivered` mark of every member but the sender for a message
in each: `members - 1` receipts per conversation, through `ReceiptCommits` (the writer's
own code, of the tree it runs in: run it in two trees to compare them). `--per run`
commits them all as one run, as a writer that took them together does (180 receipts at
the defaults: a message in each of 20 rooms of 10, within a millisecond or two); `--per
message` one run per conversation. Measured: the store process's CPU (user + system, from
/proc) and the wall time per receipt, of the whole commit and of its parts, the marks (the
states' find and bulk write) and the events (their insert). Median over `rounds`, each in
a fresh database. Measures; asserts nothing. Figures: docs/performance.md, "Receipts
committed together" and "A run's receipts of a conversation in one document".
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

from pymongo import AsyncMongoClient

from nirvana.domain.chat.entities import Conversation, ConversationKind, Member, ReceiptKind, Role
from nirvana.storage.mongo.codec import conversation_doc, state_doc
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.fence import WriterFence
from nirvana.storage.mongo.positions import StreamPositions
from nirvana.storage.mongo.receipt_commits import ReceiptCommits
from nirvana.storage.mongo.tenures import Tenures
from nirvana.storage.mongo.work_items import Mark
from nirvana.wiring.stores import init_documents

from .embedded import throwaway_stores
from .servers import cpu_seconds


class _Spent:
    """Store CPU and wall seconds, by part."""

    def __init__(self, pid: int) -> None:
        self._pid = pid
        self.cpu: Counter[str] = Counter()
        self.wall: Counter[str] = Counter()

    async def timed(self, part: str, call: Any) -> Any:
        cpu, wall = cpu_seconds(self._pid), time.perf_counter()
        try:
            return await call
        finally:
            self.cpu[part] += cpu_seconds(self._pid) - cpu
            self.wall[part] += time.perf_counter() - wall


class _Part:
    """A collection whose requests named in `parts` are counted in `spent` under `part`."""

    def __init__(self, inner: Any, spent: _Spent, part: str, methods: tuple[str, ...]) -> None:
        self._inner, self._spent, self._part, self._methods = inner, spent, part, methods

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._inner, name)
        if name not in self._methods:
            return found

        async def timed(*args: Any, **kwargs: Any) -> Any:
            return await self._spent.timed(self._part, found(*args, **kwargs))
        return timed


class _Measured(ChatCollections):
    def __init__(self, spent: _Spent) -> None:
        self._spent = spent

    @property
    def states(self) -> Any:
        return _Part(super().states, self._spent, "marks", ("find_one", "update_one",
                                                             "bulk_write"))

    @property
    def events(self) -> Any:
        return _Part(super().events, self._spent, "events", ("insert_one", "insert_many"))


def _rooms(conversations: int, members: int) -> list[Conversation]:
    now = datetime.now(timezone.utc)
    return [Conversation(
        id=f"room-{n}", kind=ConversationKind.GROUP, name=f"room {n}", created_by=1,
        members=[Member(1, Role.OWNER)] + [Member(100 * n + m) for m in range(1, members)],
        created_at=now, last_activity=now, last_seq=1) for n in range(conversations)]


async def _round(client: AsyncMongoClient, pid: int, name: str, args: argparse.Namespace
                 ) -> tuple[_Spent, int]:
    await client.drop_database(name)
    await init_documents(client, name)
    db = ChatCollections()
    rooms = _rooms(args.conversations, args.members)
    await db.states.insert_many([state_doc(r) for r in rooms])
    await db.conversations.insert_many([conversation_doc(r, None) for r in rooms])
    spent = _Spent(pid)
    positions = StreamPositions(db)
    await positions.load()
    commits = ReceiptCommits(_Measured(spent), positions, WriterFence(), lambda exc: False)
    loop = asyncio.get_running_loop()
    runs = [[Mark(r.id, m, ReceiptKind.DELIVERED, 1, r.member_ids, loop.create_future())
             for m in r.member_ids[1:]] for r in rooms]
    if args.per == "run":
        runs = [[m for run in runs for m in run]]
    for run in runs:
        await spent.timed("all", commits.commit(run, Tenures().fence(lambda: True)))
        refused = [m for m in run if m.future.exception() is not None]
        if refused:
            raise RuntimeError(f"{len(refused)} receipts refused: {refused[0].future.exception()}")
    return spent, sum(len(run) for run in runs)


async def _main(args: argparse.Namespace) -> None:
    rounds: list[_Spent] = []
    with throwaway_stores("receipt-store-") as stores:
        client: AsyncMongoClient = AsyncMongoClient(stores.mongodb_url)
        try:
            for n in range(args.rounds):
                spent, receipts = await _round(client, stores.mongo_pid, f"receipts{n}", args)
                rounds.append(spent)
        finally:
            await client.close()
    print(f"{receipts} receipts in {args.conversations} conversations of {args.members}, "
          f"committed per {args.per}; median of {args.rounds} rounds (min-max)")
    print(f"{'part':<8} {'store CPU per receipt':>26} {'wall, all runs':>26}")
    for part in ("all", "marks", "events"):
        cpu = [s.cpu[part] / receipts * 1e6 for s in rounds]
        wall = [s.wall[part] * 1e3 for s in rounds]
        print(f"{part:<8} {statistics.median(cpu):>9,.0f} µs ({min(cpu):,.0f}-{max(cpu):,.0f})"
              f" {statistics.median(wall):>11,.1f} ms ({min(wall):,.1f}-{max(wall):,.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per", choices=("run", "message"), default="run")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
