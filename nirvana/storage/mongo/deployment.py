"""The deployment's id in the chat store: one document in a collection of its own, a copy of
PostgreSQL's, with the highest user id PostgreSQL had handed out at any start
(nirvana/deployment_identity.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from .documents import ConversationDoc, ConversationStateDoc, EventDoc, MessageDoc

COLLECTION = "deployment"
DOCUMENT_ID = "deployment"

# Every field of the chat store that holds user ids (documents.py). Members are not enough:
# a user who left or was removed is still named by the messages and events of their time.
USER_ID_FIELDS = {
    ConversationDoc.Settings.name: ("member_ids", "members.user_id", "created_by"),
    MessageDoc.Settings.name: ("sender_id", "audience", "hidden_for", "reactions.user_id"),
    EventDoc.Settings.name: ("user_id", "audience", "data.user_ids"),
}


class MongoDeploymentId:
    crossing = "that deployment's chats"

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


async def highest_user_id(database: Any) -> int:
    """The highest user id the chat store names anywhere (0 if none): what PostgreSQL's
    `users` identity must be past before it serves again (docs/deployment.md, "What to do
    when a start is refused"). Reads every document: for that step, not for serving."""
    highest = 0
    for collection, fields in USER_ID_FIELDS.items():
        for field in fields:
            cursor = await database[collection].aggregate([
                {"$project": {"_id": 0, "v": f"${field}"}}, {"$unwind": "$v"},
                {"$group": {"_id": None, "max": {"$max": "$v"}}}])
            async for found in cursor:
                highest = max(highest, found["max"] or 0)
    # Read marks are keyed by user id: a reader's stays after they leave.
    async for state in database[ConversationStateDoc.Settings.name].find(
            {}, projection={"_id": 0, "marks": 1}):
        highest = max([highest, *(int(k) for k in state.get("marks") or {})])
    return highest


async def users_mark(database: Any) -> int:
    """The chat store's mark (0 before the first start that raised it)."""
    found = await database[COLLECTION].find_one({"_id": DOCUMENT_ID})
    return (found or {}).get("users_mark", 0)
