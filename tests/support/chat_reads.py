"""The chat store's collections, counting what history pages read, resume's reads of where
seq order holds, and the writer's reads of a conversation's highest seq: passed to
MongoChatStore as its `db`, as production passes the plain ones."""

from __future__ import annotations

from typing import Any

import pytest

from nirvana.storage.mongo.chat_store import MongoChatStore
from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.upgrade import SEQ_ORDER_ID
from tests.support.delegating import Delegating


class CountingCollections(ChatCollections):
    def __init__(self) -> None:
        self.windows: list[dict[str, Any]] = []  # the seq range of each read of messages
        self.documents = 0  # the messages those reads brought into this process
        self.floor_reads = 0  # reads of a conversation's stored summary
        self.seq_order_reads = 0  # reads of chat_meta's `SEQ_ORDER_ID`
        self.state_finds = 0  # finds of states (the writer's floors of its highest seqs)
        self.highest_seqs: list[dict[str, Any]] = []  # each messages.find_one's query

    def reset(self) -> None:
        self.windows.clear()
        self.documents = self.floor_reads = self.state_finds = 0
        self.highest_seqs.clear()

    @property
    def reads(self) -> int:
        """Every read a page made: its windows and its summary reads."""
        return len(self.windows) + self.floor_reads

    @property
    def messages(self) -> Any:
        return _Messages(super().messages, self)

    @property
    def states(self) -> Any:
        return _States(super().states, self)

    @property
    def meta(self) -> Any:
        return _Meta(super().meta, self)


class _Messages(Delegating[CountingCollections]):
    async def aggregate(self, pipeline: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        self._steer.windows.append(pipeline[0]["$match"].get("seq", {}))
        return _Counted(await self._inner.aggregate(pipeline, *args, **kwargs), self._steer)

    async def find_one(self, query: Any = None, *args: Any, **kwargs: Any) -> Any:
        self._steer.highest_seqs.append(query)
        return await self._inner.find_one(query, *args, **kwargs)


class _Counted:
    def __init__(self, cursor: Any, counts: CountingCollections) -> None:
        self._cursor, self._counts = cursor, counts

    async def __aiter__(self) -> Any:
        async for d in self._cursor:
            self._counts.documents += 1
            yield d


class _States(Delegating[CountingCollections]):
    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        self._steer.floor_reads += 1
        return await self._inner.find_one(*args, **kwargs)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        self._steer.state_finds += 1
        return self._inner.find(*args, **kwargs)


class _Meta(Delegating[CountingCollections]):
    async def find_one(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if query.get("_id") == SEQ_ORDER_ID:
            self._steer.seq_order_reads += 1
        return await self._inner.find_one(query, *args, **kwargs)


@pytest.fixture
async def counted(services):
    """A store reading through counting collections (on the test's databases): (store, counts)."""
    counts = CountingCollections()
    store = MongoChatStore(db=counts)
    yield store, counts
    await store.close()
