"""The chat store's pymongo collections, and the reads they share.

The chat paths query these directly with plain dicts (codec.py) rather than through Beanie's
models: sends, receipts and resumes run thousands of times a second, and a model built and
validated per document would be event-loop work for nothing (documents.py declares the
schema all the same)."""

from __future__ import annotations

import asyncio
from typing import Any

from ...domain.chat.entities import Conversation
from .codec import conversation_of
from .documents import ChatMetaDoc, ConversationDoc, ConversationStateDoc, EventDoc, MessageDoc


class ChatCollections:
    """Looked up per use: Beanie binds the documents to a database at start-up (and tests
    rebind them), so the collections are never held."""

    @property
    def conversations(self) -> Any:
        return ConversationDoc.get_pymongo_collection()

    @property
    def messages(self) -> Any:
        return MessageDoc.get_pymongo_collection()

    @property
    def events(self) -> Any:
        return EventDoc.get_pymongo_collection()

    @property
    def meta(self) -> Any:
        return ChatMetaDoc.get_pymongo_collection()

    @property
    def states(self) -> Any:
        return ConversationStateDoc.get_pymongo_collection()

    async def read_conversation(self, query: dict[str, Any]) -> Conversation | None:
        """The conversation `query` finds, with its state; as stored (no buffered summary)."""
        if "_id" in query:  # both at once
            d, state = await asyncio.gather(self.conversations.find_one(query),
                                            self.states.find_one({"_id": query["_id"]}))
        else:
            d = await self.conversations.find_one(query)
            state = await self.states.find_one({"_id": d["_id"]}) if d else None
        return conversation_of(d, state) if d else None

    async def read_conversations(self, ids: list[str]) -> list[Conversation]:
        docs, states = await asyncio.gather(by_ids(self.conversations, ids),
                                            by_ids(self.states, ids))
        by_id = {state["_id"]: state for state in states}
        return [conversation_of(d, by_id.get(d["_id"])) for d in docs]


async def collect(cursor: Any) -> list[dict[str, Any]]:
    return [d async for d in cursor]


# Ids per `$in` of `by_ids`: the embedded store's cost of one `$in` grows faster than its
# length, so a long list is read in slices of this many (docs/performance.md, "Pages of the
# conversation list"); MongoDB pays a round trip per slice.
IN_SLICE = 50


async def by_ids(collection: Any, ids: list[str], projection: dict[str, Any] | None = None
                 ) -> list[dict[str, Any]]:
    """The documents of `ids` that exist (any order), read `IN_SLICE` ids at a time."""
    found: list[dict[str, Any]] = []
    for i in range(0, len(ids), IN_SLICE):
        found += await collect(collection.find({"_id": {"$in": ids[i:i + IN_SLICE]}},
                                               projection=projection))
    return found
