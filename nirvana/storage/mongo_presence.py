"""MongoDB adapter of `PresenceStore`: one small document per user with their last_seen."""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from beanie import Document


class PresenceDoc(Document):
    id: int  # type: ignore[assignment]  # the PostgreSQL user id
    last_seen: datetime

    class Settings:
        name = "chat_presence"


DOCUMENTS = [PresenceDoc]


class MongoPresenceStore:
    @property
    def _coll(self):
        return PresenceDoc.get_pymongo_collection()

    async def save_last_seen(self, user_id: int, at: datetime) -> None:
        await self._coll.update_one({"_id": user_id}, {"$max": {"last_seen": at}}, upsert=True)

    async def last_seen(self, user_ids: Iterable[int]) -> dict[int, datetime]:
        cursor = self._coll.find({"_id": {"$in": list(user_ids)}})
        return {d["_id"]: d["last_seen"] async for d in cursor}
