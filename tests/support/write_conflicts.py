"""The chat store's collections, with a real write conflict at a test's word: passed to
MongoChatChanges as its `db`, as production passes the plain ones.

While `conflicts` is above zero, a write of a message inside a transaction first has
another transaction write that message (left open), so the store itself answers the
write with a WriteConflict (labelled TransientTransactionError) and aborts it; then that
other transaction is aborted, `then` runs (a takeover, say), and the error goes on to the
caller, as the store's would.

With `erasing` set to a user id, that other transaction is instead an erasure of that
user's messages (the updates of storage/mongo/erasure.py, messages, events and states),
and it commits once the write met the conflict: an erasure landing between a change's
read and its write.

`delete_conflicts` does the same to deletes of messages (a take-back's), also passed to
MongoChatStore as its `db`."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from pymongo.errors import OperationFailure

from nirvana.storage.mongo.collections import ChatCollections
from nirvana.storage.mongo.erasure import ERASED
from tests.support.delegating import Delegating


class ConflictingCollections(ChatCollections):
    def __init__(self) -> None:
        self.conflicts = 0  # how many writes of a message still meet one
        self.met: list[OperationFailure] = []  # the store's answers to them
        self.then: Callable[[], Awaitable[Any]] | None = None
        self.erasing: int | None = None  # a sender whose erasure the conflict commits
        self.delete_conflicts = 0  # how many deletes of messages (take-backs) still meet one

    @property
    def messages(self) -> Any:
        return _Messages(super().messages, self)


class _Messages(Delegating[ConflictingCollections]):
    async def update_one(self, query: dict[str, Any], update: dict[str, Any], *args: Any,
                         session: Any = None, **kwargs: Any) -> Any:
        if session is None or self._steer.conflicts <= 0:
            return await self._inner.update_one(query, update, *args, session=session,
                                                **kwargs)
        self._steer.conflicts -= 1
        async with self._inner.database.client.start_session() as other:
            await other.start_transaction()
            if self._steer.erasing is None:
                await self._inner.update_one(query, {"$set": {"conflicting": True}},
                                             session=other)
            else:
                await erase(self._steer.erasing, other)
            try:
                await self._inner.update_one(query, update, *args, session=session,
                                             **kwargs)
            except OperationFailure as exc:
                self._steer.met.append(exc)
                raise
            finally:
                if self._steer.erasing is None:
                    await other.abort_transaction()
                else:
                    await other.commit_transaction()
                if self._steer.then is not None:
                    await self._steer.then()
        raise AssertionError("the store let both transactions write the message")

    async def delete_many(self, query: dict[str, Any], *args: Any, session: Any = None,
                          **kwargs: Any) -> Any:
        """A take-back's delete: while `delete_conflicts`, another transaction writes the
        messages it deletes first (left open), so the store aborts the delete's."""
        if session is None or self._steer.delete_conflicts <= 0:
            return await self._inner.delete_many(query, *args, session=session, **kwargs)
        self._steer.delete_conflicts -= 1
        async with self._inner.database.client.start_session() as other:
            await other.start_transaction()
            await self._inner.update_many(query, {"$set": {"conflicting": True}},
                                          session=other)
            try:
                await self._inner.delete_many(query, *args, session=session, **kwargs)
            except OperationFailure as exc:
                self._steer.met.append(exc)
                raise
            finally:
                await other.abort_transaction()
        raise AssertionError("the store let both transactions write the messages")


async def erase(user_id: int, session: Any) -> None:
    """erasure.py's updates of `user_id`'s messages, in `session`'s transaction."""
    db = ChatCollections()
    await db.messages.update_many({"sender_id": user_id}, {"$set": ERASED},
                                  session=session)
    await db.events.update_many({"message.sender_id": user_id},
                                {"$set": {f"message.{k}": v for k, v in ERASED.items()}},
                                session=session)
    await db.states.update_many({"last_message.sender_id": user_id},
                                {"$set": {f"last_message.{k}": v for k, v in ERASED.items()}},
                                session=session)
