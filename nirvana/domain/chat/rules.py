"""Membership and role checks shared by the chat use cases and their plans."""

from __future__ import annotations

from typing import Awaitable, Callable

from .entities import Conversation, ConversationKind, Member, Role
from .errors import NotAGroupError, NotAllowedError, NotMemberError

# `conversation_for(user_id, conversation_id)`: the conversation when the user is a member,
# NotMemberError otherwise. Every chat use case starts with it (messaging.py holds it).
Membership = Callable[[int, str], Awaitable[Conversation]]


def member_of(conversation: Conversation, user_id: int) -> Member:
    """The caller's membership, checked again on the fresh state a change is applied to."""
    member = conversation.member(user_id)
    if member is None:
        raise NotMemberError()
    return member


def group_role(conversation: Conversation, user_id: int, *allowed: Role) -> Member:
    if conversation.kind is not ConversationKind.GROUP:
        raise NotAGroupError()
    member = member_of(conversation, user_id)
    if allowed and member.role not in allowed:
        raise NotAllowedError()
    return member
