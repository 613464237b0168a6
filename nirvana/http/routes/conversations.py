"""Chat over HTTP, conversations: list them or read one, open a direct one or create a
group, and manage a group's name and members.

Every route calls the same `ChatService` use cases as the WebSocket commands
(`nirvana/ws/handlers/`) and answers with the same models (`nirvana/ws/views.py`), so both
paths apply the same rules and agree on what a message looks like.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from starlette.responses import Response

from ...domain.chat.entities import Role
from ...domain.chat.groups import GROUP_FIELDS
from ...domain.chat.limits import ChatLimits
from ...domain.chat.listing import decode_cursor, encode_cursor
from ...domain.errors import field_error
from ...domain.idempotency import IdempotencyKey
from ...ws.frames import ConversationOut
from ...ws.views import conversation_out
from ..api import Api, Call, In, Out
from ..idempotency import HEADER, checked_key
from ...schema_text import Lines

api = Api()
TAGS = ["chat"]
CONVERSATION = "/api/v1/conversations/{id}"
MAX_CONVERSATIONS = ChatLimits().max_conversations  # a page's default and most


class ConversationPageIn(In):
    limit: int = Field(default=MAX_CONVERSATIONS, ge=1, le=MAX_CONVERSATIONS)
    cursor: str | None = Field(default=None, max_length=200, pattern=r"^[A-Za-z0-9_-]+$",
                               description="next_cursor of the previous page; omit for the first")


class ConversationsOut(Out):
    conversations: list[ConversationOut] = Field(
        description="Latest activity first, ties by id (descending)")
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page; null on "
                                                "the last page (docs/protocol.md: paging)")


class NewConversationIn(In):
    """With an Idempotency-Key, a group's retry must ask for the same kind, name,
    description, avatar_url and set of member_ids (their order and repeats do not count);
    anything else is 409 `idempotency_key_reused`. A direct conversation is one per pair
    already: its key is checked for form but not stored, and every call answers the pair's
    conversation, without Idempotent-Replayed."""

    kind: Literal["direct", "group"]
    user_id: int | None = Field(default=None, ge=1, description="direct: the friend")
    name: str | None = Field(default=None, min_length=1, max_length=100,
                             description="group: its name (required); must show something")
    member_ids: list[int] = Field(default_factory=list, max_length=512)
    description: Lines | None = Field(default=None, max_length=1000)
    avatar_url: str | None = Field(default=None, max_length=2048)


class GroupPatchIn(In):
    name: str | None = Field(default=None, min_length=1, max_length=100,
                             description="Must show something")
    description: Lines | None = Field(default=None, max_length=1000)
    avatar_url: str | None = Field(default=None, max_length=2048)


class MembersIn(In):
    user_ids: list[int] = Field(min_length=1, max_length=256)


class MemberRoleIn(In):
    role: Literal["owner", "admin", "member"]


@api.route("GET", "/api/v1/conversations", summary="Your conversations, latest activity first",
           tags=TAGS, query=ConversationPageIn, response=ConversationsOut)
async def list_conversations(call: Call[None, ConversationPageIn]) -> ConversationsOut:
    q = call.query
    page = await call.services.chat.conversations(
        call.user_id, decode_cursor(q.cursor) if q.cursor else None, q.limit)
    return ConversationsOut(
        conversations=[conversation_out(c, call.user_id) for c in page.items],
        next_cursor=encode_cursor(page.next) if page.next else None)


@api.route("GET", CONVERSATION, summary="One of your conversations, as your list gives it",
           tags=TAGS, response=ConversationOut, errors=(403,))
async def get_conversation(call: Call[None, None]) -> ConversationOut:
    c = await call.services.chat.conversation(call.user_id, call.path("id"))
    return conversation_out(c, call.user_id)


@api.route("POST", "/api/v1/conversations",
           summary="Open the direct conversation with a friend, or create a group",
           tags=TAGS, body=NewConversationIn, response=ConversationOut, status=201,
           errors=(403, 422), idempotent=True)
async def create_conversation(call: Call[NewConversationIn, None]) -> ConversationOut:
    b, chat = call.body, call.services.chat
    if b.kind == "direct":
        if b.user_id is None:
            raise field_error("user_id", "is required for a direct conversation", "missing")
        conversation = await chat.open_direct(call.user_id, b.user_id)
    else:
        if not b.name:
            raise field_error("name", "is required for a group", "missing")
        conversation, call.created = await chat.create_group_once(
            call.user_id, b.name, b.member_ids, b.description, b.avatar_url,
            group_key(call))
    return conversation_out(conversation, call.user_id)


def group_key(call: Call[NewConversationIn, None]) -> IdempotencyKey | None:
    """The request's key, with a fingerprint of the group it asks for: the members as a
    set (the creator, who is always in, left out), so a retry that lists them in another
    order is the same request."""
    if call.idempotency is None:
        return None
    b = call.body
    return checked_key(call.idempotency.key, [
        "POST", "/api/v1/conversations", b.kind, b.name, b.description, b.avatar_url,
        sorted(set(b.member_ids) - {call.user_id})], HEADER)


@api.route("PATCH", CONVERSATION, summary="Change a group's name, description or avatar",
           tags=TAGS, body=GroupPatchIn, response=ConversationOut, errors=(403, 409, 422))
async def update_group(call: Call[GroupPatchIn, None]) -> ConversationOut:
    changes = {k: getattr(call.body, k) for k in GROUP_FIELDS
               if k in call.body.model_fields_set}
    c = await call.services.chat.update_group(call.user_id, call.path("id"), changes)
    return conversation_out(c, call.user_id)


@api.route("POST", CONVERSATION + "/members", summary="Add friends to a group", tags=TAGS,
           body=MembersIn, response=ConversationOut, errors=(403, 409, 422))
async def add_members(call: Call[MembersIn, None]) -> ConversationOut:
    c = await call.services.chat.add_members(call.user_id, call.path("id"), call.body.user_ids)
    return conversation_out(c, call.user_id)


@api.route("DELETE", CONVERSATION + "/members/{user_id:int}",
           summary="Remove a member; your own id leaves the group (204)", tags=TAGS,
           response=ConversationOut, errors=(403, 409, 422), also=(204,))
async def remove_member(call: Call[None, None]) -> ConversationOut | Response:
    chat, target = call.services.chat, call.path("user_id")
    if target == call.user_id:
        await chat.leave_group(call.user_id, call.path("id"))
        return Response(status_code=204)
    c = await chat.remove_members(call.user_id, call.path("id"), [target])
    return conversation_out(c, call.user_id)


@api.route("PUT", CONVERSATION + "/members/{user_id:int}/role",
           summary="Promote, demote, or transfer ownership (owner only)", tags=TAGS,
           body=MemberRoleIn, response=ConversationOut, errors=(403, 409, 422))
async def set_member_role(call: Call[MemberRoleIn, None]) -> ConversationOut:
    c = await call.services.chat.set_role(call.user_id, call.path("id"),
                                          call.path("user_id"), Role(call.body.role))
    return conversation_out(c, call.user_id)
