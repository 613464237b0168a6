"""Errors and small shared checks of the chat changes (groups, edits, reactions)."""

from __future__ import annotations

from .chat import NotMemberError
from .chat_ports import Conversation, ConversationKind, Member, Role
from .errors import ConflictError, NotFoundError, PermissionDeniedError


class NotAllowedError(PermissionDeniedError):
    code = "not_allowed"
    message = "Your role in this conversation does not allow this."


class NotAGroupError(ConflictError):
    code = "not_a_group"
    message = "Only group conversations have this."


class LastMemberError(ConflictError):
    code = "last_member"
    message = "A group keeps at least one member; the last member cannot leave."


class MessageNotFoundError(NotFoundError):
    code = "message_not_found"
    message = "No such message in this conversation."


class MessageDeletedError(ConflictError):
    code = "message_deleted"
    message = "The message was deleted."


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
