"""What a page of a user's conversation list costs on the embedded MongoDB-wire store
(MongoChatStore.conversations_of), for a member of many conversations.

    .venv/bin/python -m bench.conversation_pages [--conversations 1200] [--rounds 20]

Starts a throwaway embedded store (durable commits, as run.py runs it) holding
`--conversations` groups of 20 members each, user 1 in all of them, and times, warm: the
first page of 200 (what every client reads), the third page of 200 and the first of 50
(by cursor, when the store under test pages). Runs against whichever tree is imported, so
an A/B runs it once from each tree (a tree without paging answers only the first page).
Prints the median and p90 in ms; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo import AsyncMongoClient

from nirvana.domain.chat.entities import Conversation, ConversationKind, Member, Role
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.codec import conversation_doc, state_doc
from nirvana.wiring.stores import init_documents

from .embedded import throwaway_stores

USER = 1


async def seed(db: Any, n: int) -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    convs, states = [], []
    for i in range(n):
        at = start + timedelta(minutes=i)
        c = Conversation(id=f"{i:032x}", kind=ConversationKind.GROUP,
                         members=[Member(USER, Role.OWNER)]
                         + [Member(1000 + i * 20 + k, Role.MEMBER) for k in range(19)],
                         created_by=USER, created_at=at, last_activity=at, name=f"group {i}")
        convs.append(conversation_doc(c, None))
        states.append(state_doc(c))
    for i in range(0, n, 500):
        await db.chat_conversations.insert_many(convs[i:i + 500])
        await db.chat_conversation_state.insert_many(states[i:i + 500])


async def page(store: MongoChatStore, limit: int, after: Any = None) -> tuple[list, Any]:
    found = await (store.conversations_of(USER, limit, after) if after is not None
                   else store.conversations_of(USER, limit))
    if isinstance(found, list):  # a tree without paging
        return found, None
    return found.items, found.next


async def run(args: argparse.Namespace) -> None:
    with throwaway_stores("conversation-pages-") as stores:
        client: AsyncMongoClient = AsyncMongoClient(stores.mongodb_url)
        await init_documents(client, "conversation_pages")
        db = client["conversation_pages"]
        await seed(db, args.conversations)
        store = MongoChatStore()
        _, second = await page(store, 200)
        third = (await page(store, 200, second))[1] if second is not None else None
        cases: list[tuple[str, int, Any]] = [("first page of 200", 200, None)]
        if third is not None:
            cases += [("third page of 200", 200, third), ("first page of 50", 50, None)]
        times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
        for r in range(args.rounds + 2):  # two warm-up rounds, not counted
            for name, limit, after in cases:
                started = time.perf_counter()
                await page(store, limit, after)
                if r >= 2:
                    times[name].append((time.perf_counter() - started) * 1000)
        await store.close()
        await client.close()
    print(f"ms per page, warm, {args.rounds} rounds, a member of {args.conversations:,} "
          f"conversations of 20 members: median (p90)")
    for name, values in times.items():
        values.sort()
        print(f"  {name:20} {statistics.median(values):8.1f} "
              f"({values[int(len(values) * 0.9) - 1]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1200)
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
