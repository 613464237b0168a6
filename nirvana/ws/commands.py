"""Client commands: every frame a client may send (see docs/protocol.md).

Unknown fields are refused. Each is answered once, by an `ack` (or `resumed`/`pong`) or an
`error` naming its `id`. Which handler runs each one: `command_table.py`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .frames import ConversationId, Frame, MessageKindName, RequestId, RoleName, UserIds
from ..domain.chat.limits import ChatLimits
from ..domain.upload_names import MAX_ATTACHMENT_NAME
from ..schema_text import Lines

# Bytes; far above any real file, far below what BSON's int64 holds.
MAX_ATTACHMENT_SIZE = 1 << 40
MAX_CONVERSATIONS = ChatLimits().max_conversations  # a page's default and most


class AttachmentIn(Frame):
    url: str = Field(max_length=2048,
                     description="An http(s) URL, or a /media/ path that the upload route "
                                 "issued to a member of the conversation (docs/media.md)")
    kind: MessageKindName = "file"
    name: str | None = Field(default=None, max_length=MAX_ATTACHMENT_NAME,
                             description="Cleaned, then cut to this bound (docs/media.md)")
    size: int | None = Field(default=None, ge=0, le=MAX_ATTACHMENT_SIZE)


class Send(Frame):
    type: Literal["send"]
    id: RequestId
    conversation_id: ConversationId
    client_id: str = Field(min_length=1, max_length=64,
                           description="Idempotency key: a retry with the same client_id "
                                       "returns the stored message and delivers nothing twice")
    kind: MessageKindName = "text"
    text: Lines = ""
    attachments: list[AttachmentIn] = Field(default_factory=list)
    reply_to: int | None = Field(default=None, ge=1, description="seq of the message answered")


class OpenDirect(Frame):
    type: Literal["open_direct"]
    id: RequestId
    user_id: int = Field(ge=1)


class ListConversations(Frame):
    type: Literal["conversations"]
    id: RequestId
    cursor: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9_-]+$",
                               description="next_cursor of the previous page; omit for the first")
    limit: int = Field(default=MAX_CONVERSATIONS, ge=1, le=MAX_CONVERSATIONS)


class GetConversation(Frame):
    type: Literal["conversation"]
    id: RequestId
    conversation_id: ConversationId


class History(Frame):
    type: Literal["history"]
    id: RequestId
    conversation_id: ConversationId
    before: int | None = Field(default=None, ge=1)
    after: int | None = Field(default=None, ge=0)
    limit: int = Field(default=50, ge=1, le=100)


class Mark(Frame):
    type: Literal["read", "delivered"]
    id: RequestId
    conversation_id: ConversationId
    seq: int = Field(ge=0)


class Typing(Frame):
    type: Literal["typing"]
    id: RequestId
    conversation_id: ConversationId
    active: bool = True


class Resume(Frame):
    type: Literal["resume"]
    id: RequestId
    since: int = Field(ge=0, description="The last `pos` this client processed")


class Ping(Frame):
    type: Literal["ping"]
    id: RequestId


class UpdateGroup(Frame):
    type: Literal["update_group"]
    id: RequestId
    conversation_id: ConversationId
    name: str | None = Field(default=None, max_length=100)
    description: Lines | None = Field(default=None, max_length=1000,
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
    text: Lines


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
