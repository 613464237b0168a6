"""The chat collections with the messages collection steered by a test, passed to
MongoChatStore as its `db`: a take-back's delete that fails with no answer (kept, to be run
late)."""

from __future__ import annotations

from typing import Any, Callable

from pymongo.errors import AutoReconnect

from nirvana.storage.mongo.collections import ChatCollections
from tests.support.chat_collections import Steered


class SteeredMessages(ChatCollections):
    def __init__(self, fail_deletes: Callable[[], bool] = lambda: False) -> None:
        # Asked at each delete of messages (a take-back): True fails it, with no answer;
        # its filter goes to `unanswered_deletes` (the store may still run it: `run_late`).
        self.fail_deletes = fail_deletes
        self.unanswered_deletes: list[dict[str, Any]] = []

    async def run_late(self) -> None:
        """The store gets to the deletes it gave no answer to now."""
        deletes, self.unanswered_deletes = self.unanswered_deletes, []
        for query in deletes:
            await super().messages.delete_many(query)

    @property
    def messages(self) -> Any:
        return _Messages(super().messages, self)


class _Messages(Steered):
    _steer: SteeredMessages  # type: ignore[assignment]

    async def delete_many(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        if self._steer.fail_deletes():
            self._steer.unanswered_deletes.append(query)
            raise AutoReconnect("the store went away (test)")
        return await self._inner.delete_many(query, *args, **kwargs)

