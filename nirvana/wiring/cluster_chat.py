"""The chat service as the edges see it when several instances share the databases.

Shaped like ChatService (the HTTP routes, the WebSocket handlers and moderation call it the
same way): a writer-bound use case runs here while this instance is the chat writer
(nirvana/chat_writer_role.py), else on the writer, forwarded over Redis
(storage/redis/chat_forwarding.py). So every committed event is published by one process,
in commit order. Everything else (reads, resume, typing, opening conversations) runs here.
"""

from __future__ import annotations

from typing import Any, Callable

from ..domain.chat.limits import ChatLimits
from ..domain.chat.service import ChatService
from ..storage.redis.chat_forwarding import ChatCommandServer, ForwardedChat

# The use cases that go through the chat writer (storage/mongo/writer.py): sends, receipts,
# every change that takes a stream position (each acts for a user, so ChatService checks the
# account exists: ACTS_FOR_A_USER holds them all), and a deleted account's erasure (it
# flushes the writer's summaries and forgets its cache).
WRITER_BOUND = frozenset({
    "submit_message", "send_message", "mark", "edit_message", "delete_message",
    "remove_as_moderator", "react", "update_group", "add_members", "remove_members",
    "leave_group", "set_role", "erase_sender",
})


class ClusterChat:
    def __init__(self, local: ChatService, forwarded: ForwardedChat,
                 is_writer: Callable[[], bool], server: ChatCommandServer | None = None
                 ) -> None:
        self.local = local
        self.forwarded = forwarded
        self.server = server  # runs the others' commands while this instance is the writer
        self._is_writer = is_writer

    def __getattr__(self, name: str) -> Any:
        if name in WRITER_BOUND and not self._is_writer():
            return getattr(self.forwarded, name)
        return getattr(self.local, name)

    @property
    def limits(self) -> ChatLimits:
        return self.local.limits

    @limits.setter
    def limits(self, limits: ChatLimits) -> None:
        self.local.limits = limits

    async def send_direct(self, user_id: int, other_id: int, **send: Any) -> Any:
        conversation = await self.local.open_direct(user_id, other_id)
        return await self.send_message(user_id, conversation.id, **send)

    async def prune_events(self) -> int:
        """The writer's housekeeping: the others write nothing to the chat store."""
        return await self.local.prune_events() if self._is_writer() else 0
