"""The chat service the app uses: one object composed of the chat use cases' parts.

`Messaging` (messaging.py) holds conversations, the one send path, history, receipts and
resume; `GroupCreation` (creation.py) creating a group; `MessageEdits` (edits.py) edits,
deletes and reactions; `GroupRules` (groups.py) group management. They share one cache and
one membership check, built here. HTTP routes and WebSocket commands both call this one
object.
"""

from __future__ import annotations

from datetime import timedelta
from functools import partial, wraps
from typing import Any, Awaitable, Callable, Sequence

# Plain asyncio (no I/O, no adapter): the join of erasures belongs to the one use case
# that both the writer's own calls and forwarded ones reach.
from ...tasks import OnePerKey
from ..accounts.standing import OpenGate, WriteGate
from ..clock import Clock, MillisecondClock
from ..errors import field_error
from ..uploads import IssuedUploads, NoUploads
from .cache import ChatCache
from .changes import ChatChangeStore
from .creation import GroupCreation
from .edits import MessageEdits
from .entities import Conversation, Message, StreamPage
from .errors import NotMemberError
from .groups import GroupRules
from .limits import ChatLimits
from .listing import ConversationPage, Position
from .messaging import Messaging
from .ports import ChatPeers, ChatStore, Publisher
from .search import parse_query

# The use cases that act for the user (or moderator) named first: each refuses an account
# that no longer exists (`account_gate`), also one whose socket sits on an instance that has
# not heard. Those that go through the chat writer (wiring/cluster_chat.py WRITER_BOUND) are
# among them; opening a conversation and creating a group run on any instance.
ACTS_FOR_A_USER = frozenset({
    "submit_message", "send_message", "mark", "edit_message", "delete_message",
    "remove_as_moderator", "react", "update_group", "add_members", "remove_members",
    "leave_group", "set_role", "open_direct", "create_group", "create_group_once",
    "send_direct",
})
# Of those, the sends check it themselves (Messaging.submit_message), after the store's
# admission: a check before it, answered after this process led again, would go unseen.
# That they do is tested, not enforced here: by test_every_use_case_that_acts_for_a_user_
# refuses_a_deleted_account (tests/integration/test_chat_deleted_senders.py).
CHECK_THEIR_OWN = frozenset({"submit_message", "send_message"})


def _for_an_existing_account(gate: WriteGate, use_case: Callable[..., Awaitable[Any]]
                             ) -> Callable[..., Awaitable[Any]]:
    @wraps(use_case)
    async def checked(user_id: int, /, *args: Any, **kwargs: Any) -> Any:
        await gate.check(user_id)
        return await use_case(user_id, *args, **kwargs)
    return checked


class ChatService:
    def __init__(self, *, store: ChatStore, changes: ChatChangeStore, peers: ChatPeers,
                 publisher: Publisher, clock: Clock, limits: ChatLimits = ChatLimits(),
                 write_gate: WriteGate = OpenGate(), account_gate: WriteGate = OpenGate(),
                 uploads: IssuedUploads = NoUploads()) -> None:
        # Every chat time (sent, edited, activity) is stored as a BSON date, to the
        # millisecond: made so here, the live frames carry the value history reads back.
        clock = MillisecondClock(clock)
        self.cache = ChatCache()
        self._erasures: OnePerKey[None] = OnePerKey()
        self.publisher = publisher
        self._store = store
        self._changes = changes
        self._clock = clock
        self._messaging = Messaging(store=store, peers=peers, publisher=publisher, clock=clock,
                                    limits=limits, cache=self.cache, write_gate=write_gate,
                                    account_gate=account_gate, uploads=uploads)
        membership = self._messaging.conversation_for
        self._creation = creation = GroupCreation(
            store=store, peers=peers, publisher=publisher, clock=clock,
            allowed=self._messaging.check_direct_allowed, limits=limits)
        self._edits = edits = MessageEdits(membership=membership, changes=changes, cache=self.cache,
                             publisher=publisher, clock=clock, limits=limits)
        self._groups = groups = GroupRules(membership=membership, changes=changes, peers=peers,
                            cache=self.cache, publisher=publisher, clock=clock, limits=limits)
        # The use cases each part holds, served as they are.
        m = self._messaging
        self.conversation_for = m.conversation_for
        self.open_direct = m.open_direct
        self.create_group = creation.create_group
        self.create_group_once = creation.create_group_once
        self.friends = m.friends
        self.send_message = m.send_message
        self.submit_message = m.submit_message
        self.send_direct = m.send_direct
        self.mark = m.mark
        self.typing = m.typing
        self.head = m.head
        self.message_at = m.message_at
        self.edit_message = edits.edit_message
        self.delete_message = edits.delete_message
        self.remove_as_moderator = edits.remove_as_moderator
        self.react = edits.react
        self.update_group = groups.update_group
        self.add_members = groups.add_members
        self.remove_members = groups.remove_members
        self.leave_group = groups.leave_group
        self.set_role = groups.set_role
        for name in ACTS_FOR_A_USER - CHECK_THEIR_OWN:
            setattr(self, name, _for_an_existing_account(account_gate,
                                                         getattr(self, name)))

    async def conversations(self, user_id: int, after: Position | None = None,
                            limit: int | None = None) -> ConversationPage:
        """A page of the user's conversations (listing.py): `limit` defaults to, and is
        bounded by, limits.max_conversations."""
        most = self.limits.max_conversations
        return await self._store.conversations_of(user_id, min(limit or most, most), after)

    async def conversation(self, user_id: int, conversation_id: str) -> Conversation:
        """One of the user's conversations, as their list gives it (a link that names it
        need not walk the list); NotMemberError when not a member, also when there is no
        such conversation (so ids of others' conversations reveal nothing)."""
        found = await self._store.member_conversation(user_id, conversation_id)
        if found is None:
            raise NotMemberError()
        return found

    async def member_conversations(self, user_id: int, conversation_ids: Sequence[str]
                                   ) -> dict[str, Conversation]:
        """Those of `conversation_ids` that `user_id` is a member of, by id: in one read of
        the store, and not cached, for a page that lists many at once (settings' muted
        conversations): their reads must not evict the conversations chat is using."""
        found = await self._store.get_conversations(conversation_ids)
        return {c.id: c for c in found if c.member(user_id) is not None}

    @property
    def limits(self) -> ChatLimits:
        return self._messaging.limits

    @limits.setter
    def limits(self, limits: ChatLimits) -> None:
        """Replaceable while running (tests tighten them): every part reads the new ones."""
        self._messaging.limits = self._edits.limits = self._groups.limits = limits
        self._creation.limits = limits

    async def erase_sender(self, user_id: int) -> None:
        """A deleted account's chat text: every message it sent becomes a tombstone, and the
        cache forgets the conversations that held one. Writer-bound (it must run where the
        summaries and the cache of recent messages are: nirvana/wiring/cluster_chat.py).
        A call while one for the account runs joins it: the tries of several instances,
        one whose asker stopped waiting and housekeeping's never scan the store at once."""
        await self._erasures.run(user_id, partial(self._erase_sender, user_id))

    async def _erase_sender(self, user_id: int) -> None:
        erased = await self._changes.erase_sent(user_id)
        # Forgotten now too, not only after phase 2: a cached conversation still names the
        # erased message as its last (messaging's _posted), which a receipt between the
        # phases would announce (conversation.updated); the cached pages hold its text.
        for conversation_id in erased.conversation_ids:
            self.cache.forget(conversation_id)
        # Phase 2's forgets below run in this task, two turns or more after its op ends: a
        # receipt's `_recorded` right behind it could run first and announce an erased last
        # message; today a mark's two store round trips outlast those turns (turn counting:
        # docs/cluster-chat.md).
        try:
            later = await self._changes.erase_sent_since(user_id, erased)
        finally:
            # Even when the second phase fails (the account stays pending and is erased
            # again later): the cached pages hold text the store no longer has.
            for conversation_id in erased.conversation_ids:
                self.cache.forget(conversation_id)
        for conversation_id in later:
            self.cache.forget(conversation_id)

    async def history(self, user_id: int, conversation_id: str, *, before: int | None = None,
                      after: int | None = None, limit: int = 50) -> list[Message]:
        """As Messaging.history, without the messages the caller deleted for themselves.
        The latest page comes from memory (Messaging.history) unless it holds such one."""
        if before is None and after is None:
            page = await self._messaging.history(user_id, conversation_id, limit=limit)
            if all(m.visible_to(user_id) for m in page):
                return page
        else:
            await self.conversation_for(user_id, conversation_id)
        limit = max(1, min(limit, self.limits.max_page))
        return await self._changes.messages_for(user_id, conversation_id, before=before,
                                                after=after, limit=limit)

    async def direct_history(self, user_id: int, other_id: int, limit: int = 100
                             ) -> list[Message]:
        """The seed route: history with a user. Empty when no conversation exists yet."""
        found = await self._messaging.direct_with(user_id, other_id)
        if found is None:
            return []
        return await self.history(user_id, found.id, limit=limit)

    async def search(self, user_id: int, q: str, *, conversation_id: str | None = None,
                     limit: int = 20) -> list[Message]:
        """Messages of the caller's conversations holding every word of `q`, newest first."""
        terms, prefix = parse_query(q)
        if not terms and prefix is None:
            raise field_error("q", "needs at least one word", "empty")
        if conversation_id is not None:
            ids = [(await self.conversation_for(user_id, conversation_id)).id]
        else:
            ids = [c.id for c in (await self._store.conversations_of(
                user_id, self.limits.max_search_conversations)).items]
        if not ids:
            return []
        return await self._changes.search(user_id, ids, terms, prefix,
                                          max(1, min(limit, self.limits.max_page)))

    async def resume(self, user_id: int, since: int) -> StreamPage:
        """As Messaging.resume; also `truncated` when events after `since` were pruned, or
        when `since` is past the head. No client saw a position past the head (it is never
        served before it is stored), so such a position comes from a store that lost writes
        or was restored: what the client holds past the head is not in the stream, and
        what the stream gets next would reuse its positions. Only a resync is honest."""
        head = await self.head()
        if since > head:
            return StreamPage([], True, head, ahead=True)
        if since < await self._changes.resume_floor():
            return StreamPage([], True, head)
        return await self._messaging.resume(user_id, since)

    async def prune_events(self) -> int:
        """Drop non-message events older than the resume window (the periodic task)."""
        cutoff = self._clock.now() - timedelta(seconds=self.limits.resume_window_seconds)
        return await self._changes.prune_events(cutoff)
