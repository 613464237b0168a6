"""Group chat changes -> notifications ("Ann added you to Trip", "Ann made you an admin of
Trip"), heard on the chat service's publisher after the change is stored (the writer is not
touched). Each is told in a task of its own, so the change never waits for PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable

from .domain.chat.entities import ChatEvent, Conversation, ConversationKind, EventType
from .domain.notifications.service import Notifications

log = logging.getLogger("nirvana.notifications")


class ChatGroupNotices:
    def __init__(self, notifications: Notifications) -> None:
        self._notifications = notifications
        self._tasks: set[asyncio.Task] = set()

    def group_created(self, conversation: Conversation) -> None:
        if conversation.kind is not ConversationKind.GROUP:
            return
        others = [u for u in conversation.member_ids if u != conversation.created_by]
        self._spawn(self._notifications.added_to_group(
            conversation_id=conversation.id, name=conversation.name,
            actor_id=conversation.created_by, user_ids=others))

    def event_recorded(self, event: ChatEvent, conversation: Conversation) -> None:
        n = self._notifications
        match event.type:
            case EventType.MEMBER_ADDED:
                self._spawn(n.added_to_group(
                    conversation_id=conversation.id, name=conversation.name,
                    actor_id=event.actor_id, user_ids=list(event.data["user_ids"])))
            case EventType.MEMBER_REMOVED if not event.data.get("left"):
                self._spawn(n.removed_from_group(
                    conversation_id=conversation.id, user_ids=list(event.data["user_ids"])))
            case EventType.MEMBER_ROLE:
                for change in event.data["changes"]:
                    if change["role"] in ("admin", "owner"):
                        self._spawn(n.group_role_given(
                            conversation_id=conversation.id, name=conversation.name,
                            actor_id=event.actor_id, user_id=change["user_id"],
                            role=change["role"]))
            case _:
                pass

    def _spawn(self, telling: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(self._tell(telling))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(self, telling: Awaitable[None]) -> None:
        try:
            await telling
        except Exception:  # the change is stored and delivered; only its notice is lost
            log.exception("group notification failed")
