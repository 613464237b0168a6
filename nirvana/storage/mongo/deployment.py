"""The deployment's id in the chat store: one document in a collection of its own, a copy of
PostgreSQL's (nirvana/deployment_identity.py)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from pymongo.errors import DuplicateKeyError

COLLECTION = "deployment"
_ID = "deployment"


class MongoDeploymentId:
    def __init__(self, database: Any, where: str) -> None:
        self._collection = database[COLLECTION]
        self.where = where

    async def adopt(self, candidate: str) -> str:
        """The id stored, storing `candidate` first if there is none (a fixed _id: of
        starters racing, one insert lands and the others read it)."""
        found = await self._collection.find_one({"_id": _ID})
        if found is not None:
            return found["id"]
        try:
            await self._collection.insert_one(
                {"_id": _ID, "id": candidate, "created_at": datetime.now(timezone.utc)})
        except DuplicateKeyError:
            return (await self._collection.find_one({"_id": _ID}))["id"]
        return candidate
