"""Group management: info, members, roles. Each change is a durable event with a `pos`.

Roles: the owner may do everything, including transferring ownership (then becoming an
admin); admins edit the group's info and add or remove plain members; members may leave.
When the owner leaves, the longest-standing admin becomes owner, or, without admins, the
longest-standing member (members are kept in joining order). A group keeps at least one
member. Only the adder's friends can be added, and never someone who has a block with any
current member. New members see the history; their unread count starts at zero.
"""

from __future__ import annotations

from functools import partial
from typing import Sequence

from .cache import ChatCache
from .changes import (
    ChatChangeStore,
    ConversationChanged,
    ConversationPlan,
    ConversationPlanner,
    PlannedEvent,
    outcome_unknown,
)
from .entities import Conversation, EventType, Member, Role
from .limits import ChatLimits
from .ports import ChatPeers, Publisher
from .errors import LastMemberError, NotAllowedError
from .rules import Membership, group_role
from ..errors import field_error
from ..text import check_text, is_blank
from ..clock import Clock
from ..urls import validate_url

GROUP_FIELDS = ("name", "description", "avatar_url")
MAX_DESCRIPTION = 1000


def check_info(changes: dict[str, str | None]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in changes.items():
        if key not in GROUP_FIELDS:
            raise field_error(key, "cannot be changed")
        if key == "name":
            value = check_text(value or "", "name").strip()
            if is_blank(value) or len(value) > 100:
                raise field_error("name", "must be 1 to 100 characters", "required")
        elif key == "description" and value is not None:
            check_text(value, "description", MAX_DESCRIPTION, multiline=True)
        elif key == "avatar_url" and value is not None:
            validate_url(value, "avatar_url", local="/")
        out[key] = value
    return out


def plan_info(user_id: int, changes: dict[str, str | None]) -> ConversationPlanner:
    def plan(c: Conversation) -> ConversationPlan | None:
        group_role(c, user_id, Role.OWNER, Role.ADMIN)
        diff = {k: v for k, v in changes.items() if getattr(c, k) != v}
        if not diff:
            return None
        return ConversationPlan(c.members, diff, [PlannedEvent(
            EventType.GROUP_UPDATED, {"changes": diff}, c.member_ids)])
    return plan


def plan_add(user_id: int, user_ids: Sequence[int], cap: int) -> ConversationPlanner:
    def plan(c: Conversation) -> ConversationPlan | None:
        group_role(c, user_id, Role.OWNER, Role.ADMIN)
        new = [u for u in dict.fromkeys(user_ids) if c.member(u) is None]
        if not new:
            return None
        if len(c.members) + len(new) > cap:
            raise field_error("user_ids", f"a group has at most {cap} members", "too_many")
        # Joining at the current seq: what was sent before is history, not unread.
        members = c.members + [Member(u, Role.MEMBER, c.last_seq, c.last_seq) for u in new]
        everyone = tuple(m.user_id for m in members)
        return ConversationPlan(members, events=[PlannedEvent(
            EventType.MEMBER_ADDED, {"user_ids": new}, everyone)])
    return plan


def plan_remove(user_id: int, user_ids: Sequence[int]) -> ConversationPlanner:
    def plan(c: Conversation) -> ConversationPlan | None:
        me = group_role(c, user_id, Role.OWNER, Role.ADMIN)
        gone = [u for u in dict.fromkeys(user_ids) if c.member(u) is not None]
        if user_id in gone:
            raise field_error("user_ids", "leave the group instead of removing yourself")
        for u in gone:
            target = c.member(u)
            assert target is not None
            if me.role is Role.ADMIN and target.role is not Role.MEMBER:
                raise NotAllowedError("Admins remove members only.")
        if not gone:
            return None
        members = [m for m in c.members if m.user_id not in gone]
        # The removed hear of it too (then nothing more from this conversation).
        return ConversationPlan(members, events=[PlannedEvent(
            EventType.MEMBER_REMOVED, {"user_ids": gone, "left": False}, c.member_ids)])
    return plan


def plan_leave(user_id: int) -> ConversationPlanner:
    def plan(c: Conversation) -> ConversationPlan | None:
        if c.member(user_id) is None:
            return None  # a retry after leaving
        me = group_role(c, user_id)
        if len(c.members) == 1:
            raise LastMemberError()
        members = [m for m in c.members if m.user_id != user_id]
        events = [PlannedEvent(EventType.MEMBER_REMOVED, {"user_ids": [user_id], "left": True},
                               c.member_ids)]
        if me.role is Role.OWNER:
            heir = next((m for m in members if m.role is Role.ADMIN), members[0])
            heir.role = Role.OWNER
            events.append(PlannedEvent(
                EventType.MEMBER_ROLE, {"changes": [{"user_id": heir.user_id,
                                                     "role": Role.OWNER.value}]},
                tuple(m.user_id for m in members)))
        return ConversationPlan(members, events=events)
    return plan


def plan_role(user_id: int, target_id: int, role: Role) -> ConversationPlanner:
    def plan(c: Conversation) -> ConversationPlan | None:
        me = group_role(c, user_id)
        target = c.member(target_id)
        if target is None:
            raise field_error("user_id", "is not a member of this group", "not_member")
        # Before the owner check only for a transfer: a retried one that landed (its sender
        # is an admin now) answers the conversation as protocol.md promises, not `not_allowed`.
        if target.role is role and (me.role is Role.OWNER or role is Role.OWNER):
            return None
        if me.role is not Role.OWNER:
            raise NotAllowedError()
        if target_id == user_id:
            raise field_error("user_id", "transfer ownership to another member instead")
        changes = [(target, role)]
        if role is Role.OWNER:  # a transfer: one owner at all times
            changes.append((me, Role.ADMIN))
        members = [Member(m.user_id, m.role, m.read_seq, m.delivered_seq) for m in c.members]
        for member, new_role in changes:
            next(m for m in members if m.user_id == member.user_id).role = new_role
        return ConversationPlan(members, events=[PlannedEvent(
            EventType.MEMBER_ROLE,
            {"changes": [{"user_id": m.user_id, "role": r.value} for m, r in changes]},
            c.member_ids)])
    return plan


class GroupRules:
    """The group management use cases; one part of the chat service (service.py)."""

    def __init__(self, *, membership: Membership, changes: ChatChangeStore, peers: ChatPeers,
                 cache: ChatCache, publisher: Publisher, clock: Clock, limits: ChatLimits
                 ) -> None:
        self._membership = membership
        self._changes = changes
        self._peers = peers
        self._cache = cache
        self._publisher = publisher
        self._clock = clock
        self.limits = limits

    async def _change_group(self, user_id: int, conversation_id: str,
                            plan: ConversationPlanner) -> ConversationChanged:
        try:
            # Announced by the store as it is applied (`_applied`), as in edits.py.
            return await self._changes.change_conversation(
                conversation_id, user_id, self._clock.now(), plan,
                on_applied=partial(self._applied, conversation_id))
        except Exception as exc:
            if outcome_unknown(exc):  # it may have landed: members and roles read again
                self._cache.forget(conversation_id)
            raise

    def _applied(self, conversation_id: str, changed: ConversationChanged | None) -> None:
        """The store applied a change (its `on_applied`): members and roles are read again
        (see cache.py) and it is announced; or one whose caller stopped waiting failed
        (None), which may have landed in part."""
        if changed is None:
            self._cache.forget(conversation_id)
            return
        conversation, events = changed
        if events:
            self._cache.forget(conversation_id)
        for event in events:
            self._publisher.event_recorded(event, conversation)

    async def update_group(self, user_id: int, conversation_id: str,
                           changes: dict[str, str | None]) -> Conversation:
        """Change name, description or avatar_url (owner and admins)."""
        checked = check_info(changes)
        await self._membership(user_id, conversation_id)
        return (await self._change_group(user_id, conversation_id,
                                         plan_info(user_id, checked)))[0]

    async def add_members(self, user_id: int, conversation_id: str, user_ids: Sequence[int]
                          ) -> Conversation:
        current = await self._membership(user_id, conversation_id)
        group_role(current, user_id, Role.OWNER, Role.ADMIN)  # before probing the graph
        for other in dict.fromkeys(user_ids):
            if current.member(other) is not None:
                continue
            if not await self._peers.are_friends(user_id, other):
                raise field_error("user_ids", f"user {other} is not your friend", "not_friends")
            # Checked against the members read above; one added concurrently by another
            # admin is checked by that admin's own request.
            if await self._peers.blocked_with(other, current.member_ids):
                raise field_error("user_ids", f"user {other} cannot join this group",
                                  "blocked")
        return (await self._change_group(user_id, conversation_id, plan_add(
            user_id, user_ids, self.limits.max_group_members)))[0]

    async def remove_members(self, user_id: int, conversation_id: str,
                             user_ids: Sequence[int]) -> Conversation:
        await self._membership(user_id, conversation_id)
        return (await self._change_group(user_id, conversation_id,
                                         plan_remove(user_id, user_ids)))[0]

    async def leave_group(self, user_id: int, conversation_id: str) -> None:
        """Idempotent: leaving again (a retry) changes nothing and answers the same."""
        await self._change_group(user_id, conversation_id, plan_leave(user_id))

    async def set_role(self, user_id: int, conversation_id: str, target_id: int, role: Role
                       ) -> Conversation:
        """Promote/demote (owner only); role=owner transfers ownership."""
        await self._membership(user_id, conversation_id)
        return (await self._change_group(user_id, conversation_id,
                                         plan_role(user_id, target_id, role)))[0]

