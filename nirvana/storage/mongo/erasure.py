"""Erasing a deleted account's chat text: every message it sent becomes a tombstone.

The messages stay in place (their seqs, the replies that point at them, the others' read
marks all keep their meaning) but lose their text, attachments and search terms and are
marked deleted, as "delete for everyone" leaves them; so do the copies that durable events
(edits, reactions) and the conversation summaries carry. Runs outside the chat writer: the
account's sockets are closed and it can no longer send.
"""

from __future__ import annotations

from .collections import ChatCollections

ERASED = {"text": "", "attachments": [], "terms": [], "deleted": True}


class MongoChatErasure:
    def __init__(self) -> None:
        self._db = ChatCollections()

    async def erase_sender(self, user_id: int) -> list[str]:
        """Tombstone every message `user_id` sent; the conversations that held any."""
        # Not indexed by sender: a scan, acceptable for a rare, background operation.
        cursor = self._db.messages.find({"sender_id": user_id, "deleted": {"$ne": True}},
                                        {"conversation_id": 1})
        conversations = {d["conversation_id"] async for d in cursor}
        await self._db.messages.update_many({"sender_id": user_id}, {"$set": ERASED})
        await self._db.events.update_many(
            {"message.sender_id": user_id},
            {"$set": {f"message.{k}": v for k, v in ERASED.items()}})
        await self._db.states.update_many(
            {"last_message.sender_id": user_id},
            {"$set": {f"last_message.{k}": v for k, v in ERASED.items()}})
        return sorted(conversations)
