"""The deployment's id in the chat store: one document in a collection of its own, a copy of
PostgreSQL's, with the highest user id PostgreSQL had handed out at any start
(nirvana/deployment_identity.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

COLLECTION = "deployment"
DOCUMENT_ID = "deployment"


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
