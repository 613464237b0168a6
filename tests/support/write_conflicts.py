"""The chat store's collections, with a real write conflict at a test's word: passed to
MongoChatChanges as its `db`, as production passes the plain ones.

While `conflicts` is above zero, a write of a message inside a transaction first has
another transaction write that message (left open), so the store itself answers the
write with a WriteConflict (labelled TransientTransactionError) and aborts it; then that
other transaction is aborted, `then` runs (a takeover, say), and the error goes on to the
caller, as the store's would."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from pymongo.errors import OperationFailure

from nirvana.storage.mongo.collections import ChatCollections


class ConflictingCollections(ChatCollections):
    def __init__(self) -> None:
        self.conflicts = 0  # how many writes of a message still meet one
        self.met: list[OperationFailure] = []  # the store's answers to them
        self.then: Callable[[], Awaitable[Any]] | None = None

    @property
    def messages(self) -> Any:
        return _Messages(super().messages, self)


class _Messages:
    def __init__(self, inner: Any, steer: ConflictingCollections) -> None:
        self._inner, self._steer = inner, steer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def update_one(self, query: dict[str, Any], update: dict[str, Any], *args: Any,
                         session: Any = None, **kwargs: Any) -> Any:
        if session is None or self._steer.conflicts <= 0:
            return await self._inner.update_one(query, update, *args, session=session,
                                                **kwargs)
        self._steer.conflicts -= 1
        async with self._inner.database.client.start_session() as other:
            await other.start_transaction()
            await self._inner.update_one(query, {"$set": {"conflicting": True}},
                                         session=other)
            try:
                await self._inner.update_one(query, update, *args, session=session,
                                             **kwargs)
            except OperationFailure as exc:
                self._steer.met.append(exc)
                raise
            finally:
                await other.abort_transaction()
                if self._steer.then is not None:
                    await self._steer.then()
        raise AssertionError("the store let both transactions write the message")
