"""The chat store's collections, recording the filter of each `update_many` of events (a
delete for everyone emptying its message's copies): passed to MongoChatChanges as its
`db`, as production passes the plain ones."""

from __future__ import annotations

from typing import Any

from nirvana.storage.mongo.collections import ChatCollections
from tests.support.delegating import Delegating


class EventUpdates(ChatCollections):
    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []

    @property
    def events(self) -> Any:
        return _Events(super().events, self)


class _Events(Delegating[EventUpdates]):
    async def update_many(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self._steer.filters.append(query)
        return await self._inner.update_many(query, *args, **kwargs)
