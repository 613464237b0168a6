"""The deployment's id in the chat store: one document in a collection of its own, a copy of
PostgreSQL's, with the highest user id PostgreSQL had handed out at any start
(nirvana/deployment_identity.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterator

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from .documents import ConversationDoc, ConversationStateDoc, EventDoc, MessageDoc

COLLECTION = "deployment"
DOCUMENT_ID = "deployment"

# Every field of the chat store that holds user ids (documents.py). Members are not enough:
# a user who left or was removed is still named by the messages and events of their time.
# An event's data and its copy of the message are read too, though today they name only
# members or the actor, so that a future event naming someone else is not missed.
USER_ID_FIELDS = {
    ConversationDoc.Settings.name: ("member_ids", "members.user_id", "created_by"),
    MessageDoc.Settings.name: ("sender_id", "audience", "hidden_for", "reactions.user_id"),
    EventDoc.Settings.name: ("user_id", "receipts.user_id", "audience", "data.user_ids",
                             "data.user_id", "data.changes.user_id", "message.sender_id",
                             "message.hidden_for", "message.reactions.user_id"),
    # Read marks are keyed by user id: a reader's stays after they leave.
    ConversationStateDoc.Settings.name: ("marks",),
}
# Documents per request: the embedded store materialises what a request matches, so each
# request stays bounded whatever the store holds.
PAGE = 10_000


class MongoDeploymentId:
    crossing = "that deployment's chats"
    # A store of record: a copy's refusal never offers to forget its id (the refusal).
    forget = None

    def __init__(self, database: Any, where: str) -> None:
        self._collection = database[COLLECTION]
        self.where = where

    async def adopt(self, candidate: str) -> str:
        """The id stored, storing `candidate` first if there is none. A fixed _id, written
        first: of starters racing, one insert lands and the others read it."""
        try:
            await self._collection.insert_one(
                {"_id": DOCUMENT_ID, "id": candidate, "created_at": datetime.now(timezone.utc)})
        except DuplicateKeyError:
            return (await self._collection.find_one({"_id": DOCUMENT_ID}))["id"]
        return candidate

    async def raise_users_mark(self, issued: int) -> int:
        """The user id mark as it was, raised to `issued` (`$max`: never lowered)."""
        before = await self._collection.find_one_and_update(
            {"_id": DOCUMENT_ID}, {"$max": {"users_mark": issued}},
            projection={"users_mark": True}, return_document=ReturnDocument.BEFORE)
        return (before or {}).get("users_mark", 0)


def _ids_at(value: Any, path: list[str]) -> Iterator[int]:
    """The user ids at a dotted path, through arrays as MongoDB reads one (the keys of
    `marks`)."""
    if isinstance(value, list):
        for item in value:
            yield from _ids_at(item, path)
    elif not path:
        if isinstance(value, dict):  # marks: str(user_id) -> {...}
            yield from (int(k) for k in value)
        elif isinstance(value, int) and not isinstance(value, bool):
            yield value
    elif isinstance(value, dict):
        yield from _ids_at(value.get(path[0]), path[1:])


async def highest_user_id(database: Any, page: int = PAGE) -> int:
    """The highest user id the chat store names anywhere (0 if none): what PostgreSQL's
    `users` identity must be past before it serves again (docs/deployment.md, "What to do
    when a start is refused"). One pass per collection, only the id fields, in pages by
    `_id` (each collection's `_id`s are of one type, so `$gt` walks them all): for that
    step, not for serving."""
    highest = 0
    for collection, fields in USER_ID_FIELDS.items():
        paths = [f.split(".") for f in fields]
        after: dict[str, Any] = {}
        while True:
            found = await database[collection].find(
                after, projection={f: 1 for f in fields}).sort("_id", 1).limit(
                    page).to_list(None)
            for document in found:
                highest = max([highest, *(i for p in paths for i in _ids_at(document, p))])
            if len(found) < page:
                break
            after = {"_id": {"$gt": found[-1]["_id"]}}
    return highest


async def users_mark(database: Any) -> int:
    """The chat store's mark (0 before the first start that raised it)."""
    found = await database[COLLECTION].find_one({"_id": DOCUMENT_ID})
    return (found or {}).get("users_mark", 0)
