"""@mentions in group chats -> notifications, heard on the chat service's publisher after a
message is stored (the writer is not touched). A message without "@" costs a substring test;
one with it is resolved in a task of its own, so the send never waits for PostgreSQL."""

from __future__ import annotations

import asyncio
import logging

from .domain.chat.entities import Conversation, ConversationKind, Message
from .domain.notifications.service import Notifications

log = logging.getLogger("nirvana.notifications")


class ChatMentions:
    def __init__(self, notifications: Notifications) -> None:
        self._notifications = notifications
        self._tasks: set[asyncio.Task] = set()

    def message_posted(self, message: Message, conversation: Conversation) -> None:
        if (conversation.kind is not ConversationKind.GROUP or message.deleted
                or "@" not in message.text):
            return
        task = asyncio.get_running_loop().create_task(self._tell(message, conversation))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(self, message: Message, conversation: Conversation) -> None:
        try:
            await self._notifications.chat_mentioned(
                conversation_id=message.conversation_id, name=conversation.name,
                seq=message.seq, sender_id=message.sender_id,
                members=conversation.member_ids, text=message.text)
        except Exception:  # the message is stored and delivered; only its mention is lost
            log.exception("chat mention failed")
