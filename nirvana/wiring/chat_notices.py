"""What the chat publisher tells notifications (wiring/events.py `ChatPublishers`), heard
after the change is stored (the writer is not touched): @mentions in group chats, and group
changes ("Ann added you to Trip", "Ann made you an admin of Trip"). Each is told in a task
of its own, so the send or the change never waits for PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable

from ..domain.chat.entities import ChatEvent, Conversation, ConversationKind, EventType, Message
from ..domain.notifications.service import Notifications

log = logging.getLogger("nirvana.notifications")


class _Telling:
    """Notices told in tasks of their own, held until done. One that fails is logged: the
    message or change is stored and delivered, only its notice is lost."""

    def __init__(self, notifications: Notifications, failure: str) -> None:
        self._notifications = notifications
        self._failure = failure
        self._tasks: set[asyncio.Task] = set()

    def _spawn(self, telling: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(self._tell(telling))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tell(self, telling: Awaitable[None]) -> None:
        try:
            await telling
        except Exception:
            log.exception(self._failure)


class ChatMentions(_Telling):
    """A message without "@" costs a substring test; one with it is resolved to members
    (and told) in its task."""

    def __init__(self, notifications: Notifications) -> None:
        super().__init__(notifications, "chat mention failed")

    def message_posted(self, message: Message, conversation: Conversation) -> None:
        if (conversation.kind is not ConversationKind.GROUP or message.deleted
                or "@" not in message.text):
            return
        # Among the message's audience, the members at its position: `conversation` is the
        # copy the send was checked against, which may predate a removal stored before it.
        self._spawn(self._notifications.chat_mentioned(
            conversation_id=message.conversation_id, name=conversation.name,
            seq=message.seq, sender_id=message.sender_id,
            members=message.audience, text=message.text))


class ChatGroupNotices(_Telling):
    def __init__(self, notifications: Notifications) -> None:
        super().__init__(notifications, "group notification failed")

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
