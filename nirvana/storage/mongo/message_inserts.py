"""How one batch's message documents reach the store, and which failures leave it in doubt.

A batch is one unordered insert (a single document as a plain `insert` command: cheaper for
the client at light load, when every send is a commit of its own). What the store did with
it is known from the answer, unless `no_answer` says otherwise; the writer then asks again
(sends.py `_until_answered`).
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from pymongo.errors import BulkWriteError, ConnectionFailure, PyMongoError

from .collections import ChatCollections

# Writes one batch's message documents in one round trip (an unordered insert); raises
# BulkWriteError naming the documents not written. Injected so tests can make it fail.
InsertMessages = Callable[[list[dict[str, Any]]], Awaitable[None]]


def insert_messages(db: ChatCollections) -> InsertMessages:
    async def insert(docs: list[dict[str, Any]]) -> None:
        if len(docs) == 1:
            await _insert_alone(db.messages, docs[0])
        else:
            await db.messages.insert_many(docs, ordered=False)
    return insert


async def _insert_alone(messages: Any, doc: dict[str, Any]) -> None:
    """One document as a plain `insert` command, failing as `insert_many` does. At light load
    every send is a commit of its own, and pymongo's bulk path costs more client CPU per
    call than the command, on every message's way (docs/performance.md, "Answering big
    batches in chunks")."""
    reply = await messages.database.command(
        {"insert": messages.name, "documents": [doc], "ordered": False})
    if reply.get("writeErrors") or reply.get("writeConcernError"):
        concern = reply.get("writeConcernError")
        raise BulkWriteError({"writeErrors": reply.get("writeErrors", []),
                              "writeConcernErrors": [concern] if concern else [],
                              "nInserted": reply.get("n", 0), "nUpserted": 0,
                              "nMatched": 0, "nModified": 0, "nRemoved": 0, "upserted": []})


def no_answer(exc: BaseException) -> bool:
    """Whether the store gave no answer (a timeout, a lost connection), one that says it
    ran out of time (`maxTimeMS`, a write concern's `wtimeout`: it may have written a
    part), one that says to ask again (a replica set electing a primary: the driver's
    retryable label), or one whose write concern failed (MongoDB: written on the primary,
    not known to be kept): what it did with the request is unknown, or not durable. Any
    other error is an answer that refuses it whole."""
    return isinstance(exc, (ConnectionFailure, TimeoutError, OSError)) or (
        isinstance(exc, PyMongoError)
        and (exc.timeout or exc.has_error_label("RetryableWriteError")
             or bool(isinstance(exc, BulkWriteError)
                     and exc.details.get("writeConcernErrors"))))
