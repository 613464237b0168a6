"""Chat over HTTP, part two: group management, edits, deletes, reactions, search, presence.

The same `ChatService` use cases as the WebSocket commands (nirvana/ws/handlers/), so
both paths apply the same rules and emit the same durable events.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from starlette.responses import Response

from ...domain.chat.groups import GROUP_FIELDS
from ...domain.chat.entities import Role
from ...domain.errors import field_error
from ...ws.frames import ConversationOut, MessageOut, PresenceOut
from ...ws.views import conversation_out, message_out
from ..api import Api, Call, In, Out

api = Api()
TAGS = ["chat"]
CONVERSATION = "/api/v1/conversations/{id}"
MESSAGE = CONVERSATION + "/messages/{seq:int}"


class GroupPatchIn(In):
    name: str | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    avatar_url: str | None = Field(default=None, max_length=2048)


class MembersIn(In):
    user_ids: list[int] = Field(min_length=1, max_length=256)


class RoleIn(In):
    role: Literal["owner", "admin", "member"]


class EditIn(In):
    text: str


class DeleteQuery(In):
    scope: Literal["me", "everyone"] = "everyone"


class SearchQuery(In):
    q: str = Field(min_length=1, max_length=200)
    conversation_id: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=20, ge=1, le=100)


class MessagesOut(Out):
    messages: list[MessageOut]


class PresenceQuery(In):
    user_ids: str = Field(max_length=4000, description="comma-separated user ids")


class PresenceListOut(Out):
    presence: list[PresenceOut]


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
           response=ConversationOut, errors=(403, 409, 422))
async def remove_member(call: Call[None, None]) -> ConversationOut | Response:
    chat, target = call.services.chat, call.path("user_id")
    if target == call.user_id:
        await chat.leave_group(call.user_id, call.path("id"))
        return Response(status_code=204)
    c = await chat.remove_members(call.user_id, call.path("id"), [target])
    return conversation_out(c, call.user_id)


@api.route("PUT", CONVERSATION + "/members/{user_id:int}/role",
           summary="Promote, demote, or transfer ownership (owner only)", tags=TAGS,
           body=RoleIn, response=ConversationOut, errors=(403, 409, 422))
async def set_role(call: Call[RoleIn, None]) -> ConversationOut:
    c = await call.services.chat.set_role(call.user_id, call.path("id"),
                                          call.path("user_id"), Role(call.body.role))
    return conversation_out(c, call.user_id)


@api.route("PATCH", MESSAGE, summary="Edit your message", tags=TAGS, body=EditIn,
           response=MessageOut, errors=(403, 404, 409, 422))
async def edit_message(call: Call[EditIn, None]) -> MessageOut:
    m = await call.services.chat.edit_message(call.user_id, call.path("id"),
                                              call.path("seq"), call.body.text)
    return message_out(m)


@api.route("DELETE", MESSAGE, summary="Delete a message for everyone (a tombstone) or for you",
           tags=TAGS, query=DeleteQuery, response=MessageOut, errors=(403, 404))
async def delete_message(call: Call[None, DeleteQuery]) -> MessageOut:
    m = await call.services.chat.delete_message(call.user_id, call.path("id"),
                                                call.path("seq"),
                                                for_everyone=call.query.scope == "everyone")
    return message_out(m)


@api.route("PUT", MESSAGE + "/reactions/{emoji}", summary="Add your reaction (idempotent)",
           tags=TAGS, response=MessageOut, errors=(403, 404, 409, 422))
async def add_reaction(call: Call[None, None]) -> MessageOut:
    m = await call.services.chat.react(call.user_id, call.path("id"), call.path("seq"),
                                       call.path("emoji"), True)
    return message_out(m)


@api.route("DELETE", MESSAGE + "/reactions/{emoji}", summary="Remove your reaction",
           tags=TAGS, response=MessageOut, errors=(403, 404, 409, 422))
async def remove_reaction(call: Call[None, None]) -> MessageOut:
    m = await call.services.chat.react(call.user_id, call.path("id"), call.path("seq"),
                                       call.path("emoji"), False)
    return message_out(m)


@api.route("GET", "/api/v1/messages/search",
           summary="Search messages of your conversations (every word; last one as prefix)",
           tags=TAGS, query=SearchQuery, response=MessagesOut, errors=(403, 422))
async def search(call: Call[None, SearchQuery]) -> MessagesOut:
    q = call.query
    found = await call.services.chat.search(call.user_id, q.q,
                                            conversation_id=q.conversation_id, limit=q.limit)
    return MessagesOut(messages=[message_out(m) for m in found])


@api.route("GET", "/api/v1/presence", summary="Presence of friends and conversation peers",
           tags=TAGS, query=PresenceQuery, response=PresenceListOut, errors=(422,))
async def presence(call: Call[None, PresenceQuery]) -> PresenceListOut:
    try:
        ids = [int(x) for x in call.query.user_ids.split(",") if x.strip()][:500]
    except ValueError:
        raise field_error("user_ids", "must be comma-separated user ids") from None
    fanout = call.services.hub.presence
    return PresenceListOut(presence=await fanout.query(call.user_id, ids) if fanout else [])
