"""Frames of the group, edit, reaction, search and presence features (see docs/protocol.md).

Commands are answered like every other (an `ack` or an `error` naming the request). Events
with a `pos` are durable: kept, replayed by `resume`, delivered in `pos` order.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .frame_base import ConversationId, Frame, MessageOut, Out, RequestId

RoleName = Literal["owner", "admin", "member"]
UserIds = list[int]

# -- client commands ---------------------------------------------------------------------


class UpdateGroup(Frame):
    type: Literal["update_group"]
    id: RequestId
    conversation_id: ConversationId
    name: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=1000,
                                    description="send null to clear it")
    avatar_url: str | None = Field(default=None, max_length=2048,
                                   description="send null to clear it")


class AddMembers(Frame):
    type: Literal["add_members"]
    id: RequestId
    conversation_id: ConversationId
    user_ids: UserIds = Field(min_length=1, max_length=256)


class RemoveMembers(Frame):
    type: Literal["remove_members"]
    id: RequestId
    conversation_id: ConversationId
    user_ids: UserIds = Field(min_length=1, max_length=256)


class Leave(Frame):
    type: Literal["leave"]
    id: RequestId
    conversation_id: ConversationId


class SetRole(Frame):
    type: Literal["set_role"]
    id: RequestId
    conversation_id: ConversationId
    user_id: int = Field(ge=1)
    role: RoleName = Field(description="`owner` transfers ownership (you become admin)")


class Edit(Frame):
    type: Literal["edit"]
    id: RequestId
    conversation_id: ConversationId
    seq: int = Field(ge=1)
    text: str


class Delete(Frame):
    type: Literal["delete"]
    id: RequestId
    conversation_id: ConversationId
    seq: int = Field(ge=1)
    scope: Literal["me", "everyone"] = "everyone"


class React(Frame):
    type: Literal["react"]
    id: RequestId
    conversation_id: ConversationId
    seq: int = Field(ge=1)
    emoji: str = Field(min_length=1, max_length=32)
    add: bool = Field(default=True, description="false removes your reaction")


class Search(Frame):
    type: Literal["search"]
    id: RequestId
    q: str = Field(min_length=1, max_length=200)
    conversation_id: ConversationId | None = None
    limit: int = Field(default=20, ge=1, le=100)


class SetPresence(Frame):
    type: Literal["presence"]
    id: RequestId
    state: Literal["online", "away", "busy"]


class PresenceOf(Frame):
    type: Literal["presence_of"]
    id: RequestId
    user_ids: UserIds = Field(min_length=1, max_length=500)


COMMAND_TYPES = ("update_group", "add_members", "remove_members", "leave", "set_role", "edit",
                 "delete", "react", "search", "presence", "presence_of")

# -- server events and parts -------------------------------------------------------------


class ResumeWindowOut(Out):
    max_events: int = Field(description="Most events one `resume` replays")
    seconds: float = Field(description="How long events are kept for resume")


class PresenceOut(Out):
    user_id: int
    state: Literal["online", "away", "busy", "offline"]
    last_seen: str | None = Field(description="When last connected; null if never")


class _Durable(Out):
    pos: int
    conversation_id: str
    actor_id: int = Field(description="Who made the change")


class MessageEdited(_Durable):
    type: Literal["message.edited"] = "message.edited"
    message: MessageOut


class MessageDeleted(_Durable):
    type: Literal["message.deleted"] = "message.deleted"
    seq: int
    scope: Literal["me", "everyone"]
    message: MessageOut | None = Field(default=None, description="the tombstone (everyone)")


class ReactionEvent(_Durable):
    type: Literal["reaction"] = "reaction"
    seq: int
    emoji: str
    user_id: int
    added: bool
    message: MessageOut


class MemberAdded(_Durable):
    type: Literal["member.added"] = "member.added"
    user_ids: UserIds


class MemberRemoved(_Durable):
    type: Literal["member.removed"] = "member.removed"
    user_ids: UserIds
    left: bool = Field(description="true when the member left by themselves")


class RoleChange(Out):
    user_id: int
    role: RoleName


class MemberRole(_Durable):
    type: Literal["member.role"] = "member.role"
    changes: list[RoleChange]


class GroupUpdated(_Durable):
    type: Literal["group.updated"] = "group.updated"
    changes: dict[str, str | None] = Field(description="the changed fields among name, "
                                                        "description, avatar_url")


class PresenceEvent(Out):
    type: Literal["presence"] = "presence"
    user_id: int
    state: Literal["online", "away", "busy", "offline"]
    last_seen: str | None


class ProfileOut(Out):
    id: int
    name: str
    username: str
    avatar_url: str | None
    status: str


class ProfileUpdated(Out):
    type: Literal["profile.updated"] = "profile.updated"
    user: ProfileOut
