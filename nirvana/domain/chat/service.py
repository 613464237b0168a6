"""The chat service the app uses: `Chat` plus groups, edits, search and the resume window.

The new rules live in their own modules (chat_groups, chat_edits, chat_search) and are
composed here, so `Chat`'s send path stays as it is; HTTP routes and WebSocket commands both
call this one object.
"""

from __future__ import annotations

from datetime import timedelta

from .messaging import Chat
from .changes import ChatChangeStore
from .edits import MessageEdits
from .groups import GroupRules
from .limits import ChatLimits
from .ports import ChatPeers, ChatStore, Publisher
from .entities import Message, StreamPage
from .search import parse_query
from ..errors import field_error
from ..clock import Clock


class ChatService(MessageEdits, GroupRules, Chat):
    def __init__(self, *, store: ChatStore, changes: ChatChangeStore, peers: ChatPeers,
                 publisher: Publisher, clock: Clock, limits: ChatLimits = ChatLimits()
                 ) -> None:
        super().__init__(store=store, peers=peers, publisher=publisher, clock=clock,
                         limits=limits)
        self._changes = changes

    async def history(self, user_id: int, conversation_id: str, *, before: int | None = None,
                      after: int | None = None, limit: int = 50) -> list[Message]:
        """As Chat.history, without the messages the caller deleted for themselves. The
        latest page comes from memory (Chat.history) unless it holds such a message."""
        if before is None and after is None:
            page = await super().history(user_id, conversation_id, limit=limit)
            if all(m.visible_to(user_id) for m in page):
                return page
        else:
            await self.conversation_for(user_id, conversation_id)
        limit = max(1, min(limit, self.limits.max_page))
        return await self._changes.messages_for(user_id, conversation_id, before=before,
                                                after=after, limit=limit)

    async def search(self, user_id: int, q: str, *, conversation_id: str | None = None,
                     limit: int = 20) -> list[Message]:
        """Messages of the caller's conversations holding every word of `q`, newest first."""
        terms, prefix = parse_query(q)
        if not terms and prefix is None:
            raise field_error("q", "needs at least one word", "empty")
        if conversation_id is not None:
            ids = [(await self.conversation_for(user_id, conversation_id)).id]
        else:
            ids = [c.id for c in await self.conversations(user_id)]
        if not ids:
            return []
        return await self._changes.search(user_id, ids, terms, prefix,
                                          max(1, min(limit, self.limits.max_page)))

    async def resume(self, user_id: int, since: int) -> StreamPage:
        """As Chat.resume; also `truncated` when events after `since` were pruned."""
        if since < await self._changes.resume_floor():
            return StreamPage([], True, await self.head())
        return await super().resume(user_id, since)

    async def prune_events(self) -> int:
        """Drop non-message events older than the resume window (the periodic task)."""
        cutoff = self._clock.now() - timedelta(seconds=self.limits.resume_window_seconds)
        return await self._changes.prune_events(cutoff)
