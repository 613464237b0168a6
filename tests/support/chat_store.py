"""The real chat store with an insert the test controls: to fail, hang or land late."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import BulkWriteError, NetworkTimeout

from nirvana.domain.chat.service import ChatService
from nirvana.storage.mongo.changes import MongoChatChanges
from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.documents import MessageDoc
from nirvana.storage.postgres.chat_peers import PgChatPeers


async def write(docs) -> None:
    """What the store's own insert does: one unordered insert_many."""
    await MessageDoc.get_pymongo_collection().insert_many(docs, ordered=False)


def record_posts(chat, monkeypatch) -> list:
    """The messages the chat hands to its publisher (delivers live), in order; a test's own
    `store.append(..., on_stored=posted.append)` hands its messages to the same list."""
    posted: list = []
    hub_posted = chat.publisher.message_posted
    monkeypatch.setattr(chat.publisher, "message_posted",
                        lambda m, conv: (posted.append(m), hub_posted(m, conv)))
    return posted


async def stored_seqs(store, conversation_id: str) -> list[tuple[int, str]]:
    """A conversation's stored messages as (seq, text), in seq order."""
    return [(m.seq, m.text) for m in await store.messages(conversation_id, before=None,
                                                          after=None, limit=100)]


async def written(docs: list[dict[str, Any]]) -> None:
    """The store writes what it can of `docs` (an unordered insert); whatever it refuses,
    nobody hears of it."""
    if not docs:
        return
    try:
        await write(docs)
    except BulkWriteError:
        pass


class Stall:
    """A `SwitchableInsert.failure`: the store keeps the documents and gives no answer (a
    stalled request); `write(stall.docs)` later is the store getting to it."""

    def __init__(self) -> None:
        self.docs: list = []

    async def __call__(self, docs) -> None:
        self.docs.extend(docs)
        raise NetworkTimeout("no answer")


class SwitchableInsert:
    """The store's insert, given to it at construction; `failure` replaces it while set."""

    def __init__(self) -> None:
        self.failure = None

    async def __call__(self, docs) -> None:
        if self.failure is not None:
            return await self.failure(docs)
        await write(docs)


@pytest.fixture
async def flaky(services):
    """Builds a chat on a store whose insert the test controls: (chat, store, insert)."""
    stores = []

    def build(timeout: float = services.settings.store_timeout, **options):
        """`options` go to MongoChatStore (e.g. `max_inflight`)."""
        insert = SwitchableInsert()
        store = MongoChatStore(timeout=timeout, insert=insert, **options)
        stores.append(store)
        chat = ChatService(store=store, changes=MongoChatChanges(store),
                           peers=PgChatPeers(services.pool), publisher=services.hub,
                           clock=services.clock, limits=services.chat.limits)
        return chat, store, insert

    yield build
    for store in stores:
        await store.close()
