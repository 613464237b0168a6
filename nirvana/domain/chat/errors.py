"""Every error of the chat domain, each with its stable machine `code`."""

from __future__ import annotations

from ..errors import ConflictError, NotFoundError, PermissionDeniedError


class NotMemberError(PermissionDeniedError):
    code = "not_member"
    message = "You are not a member of this conversation."


class NotFriendsError(PermissionDeniedError):
    code = "not_friends"
    message = "You can only message friends."


class BlockedError(PermissionDeniedError):
    code = "blocked"
    message = "You cannot message this user."


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
