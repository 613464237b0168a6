"""Creating a group: who may be in it, and storing it with its owner and members, once per
Idempotency-Key (`nirvana/domain/idempotency.py`): a retry whose first attempt stored the
group answers that group and tells its members nothing again.

Apart from messaging.py (the send path and reads), whose module is at its size cap; the
friendship and block rule is the one a direct conversation applies (`Messaging.
check_direct_allowed`), passed in, so both paths refuse the same people.
"""

from __future__ import annotations

import uuid
from typing import Awaitable, Callable, Sequence

from ..clock import Clock
from ..errors import DomainError, field_error
from ..idempotency import IdempotencyKey
from ..text import check_text, is_blank
from .entities import Conversation, ConversationKind, Member, Role
from .errors import NotMemberError
from .limits import ChatLimits
from .ports import ChatPeers, ChatStore, Publisher

# `allowed(a, b)`: refuses unless `a` may message `b` directly.
Allowed = Callable[[int, int], Awaitable[None]]


class GroupCreation:
    def __init__(self, *, store: ChatStore, peers: ChatPeers, publisher: Publisher,
                 clock: Clock, allowed: Allowed, limits: ChatLimits = ChatLimits()) -> None:
        self._store = store
        self._peers = peers
        self._publisher = publisher
        self._clock = clock
        self._allowed = allowed
        self.limits = limits

    async def create_group(self, user_id: int, name: str, member_ids: Sequence[int],
                           description: str | None = None, avatar_url: str | None = None
                           ) -> Conversation:
        return (await self.create_group_once(user_id, name, member_ids, description,
                                             avatar_url, None))[0]

    async def create_group_once(self, user_id: int, name: str, member_ids: Sequence[int],
                                description: str | None, avatar_url: str | None,
                                key: IdempotencyKey | None) -> tuple[Conversation, bool]:
        """Create a group, once per `key`: a retry with the key answers the group the first
        attempt stored (as it is now) and False, announcing nothing again. The key is read
        only when a check refuses (a member unfriended since the first attempt: the stored
        group still answers) or the insert meets it, so a first attempt pays no extra read.
        A creator no longer in that group is answered as for any group not theirs."""
        try:
            conversation = await self._checked(user_id, name, member_ids, description,
                                               avatar_url)
        except DomainError:
            if key is not None and (
                    found := await self._store.keyed_conversation(user_id, key)):
                return _replayed(found, user_id), False
            raise
        stored = await self._store.create_conversation(conversation, None, key)
        if stored.id != conversation.id:  # the key's first attempt stored this one
            return _replayed(stored, user_id), False
        self._publisher.group_created(stored)
        return stored, True

    async def _checked(self, user_id: int, name: str, member_ids: Sequence[int],
                       description: str | None, avatar_url: str | None) -> Conversation:
        """The group to store, once every rule passed."""
        name = check_text(name, "name").strip()
        if is_blank(name) or len(name) > 100:
            raise field_error("name", "must be 1 to 100 characters", "required")
        if description is not None:
            check_text(description, "description", multiline=True)
        others = sorted({m for m in member_ids if m != user_id})
        if len(others) + 1 > self.limits.max_group_members:
            raise field_error("member_ids", f"a group has at most "
                              f"{self.limits.max_group_members} members", "too_many")
        for other in others:  # only people you could message directly
            await self._allowed(user_id, other)
        if len(others) > 1 and await self._peers.any_block_among(others):
            # Same rule as adding members later: nobody who has a block with a member.
            raise field_error("member_ids", "two of these people have blocked each other",
                              "blocked")
        now = self._clock.now()
        return Conversation(
            id=uuid.uuid4().hex, kind=ConversationKind.GROUP,
            members=[Member(user_id, Role.OWNER)] + [Member(o, Role.MEMBER) for o in others],
            created_by=user_id, created_at=now, last_activity=now, name=name,
            description=description, avatar_url=avatar_url,
        )


def _replayed(found: Conversation, user_id: int) -> Conversation:
    if found.member(user_id) is None:
        raise NotMemberError()
    return found
