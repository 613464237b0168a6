"""Chat over HTTP: conversations, history, sending, read marks, and the seed's /api/messages.

Every route calls the same `ChatService` use cases as the WebSocket commands, and answers with the
same message and conversation models (`nirvana/ws/views.py`), so both paths agree.
"""

from __future__ import annotations

import uuid
from typing import Literal

import orjson
from pydantic import Field
from starlette.responses import Response

from ...domain.chat.entities import Attachment, MessageKind, ReceiptKind
from ...domain.errors import field_error
from ...ws.attachments import attachments_of
from ...ws.commands import AttachmentIn
from ...ws.frames import ConversationOut, MessageKindName, MessageOut
from ...ws.protocol import json_schema
from ...ws.views import conversation_out, message_out
from ..api import Api, Call, In, JsonResponse, Out

api = Api()
TAGS = ["chat"]


class ConversationsOut(Out):
    conversations: list[ConversationOut]


class MessagesOut(Out):
    messages: list[MessageOut]


class NewConversationIn(In):
    kind: Literal["direct", "group"]
    user_id: int | None = Field(default=None, ge=1, description="direct: the friend")
    name: str | None = Field(default=None, max_length=100, description="group: its name")
    member_ids: list[int] = Field(default_factory=list, max_length=512)
    description: str | None = Field(default=None, max_length=1000)
    avatar_url: str | None = Field(default=None, max_length=2048)


class HistoryQuery(In):
    before: int | None = Field(default=None, ge=1)
    after: int | None = Field(default=None, ge=0)
    limit: int = Field(default=50, ge=1, le=100)


class SendIn(In):
    client_id: str | None = Field(default=None, min_length=1, max_length=64,
                                  description="Idempotency key; a retry returns the stored "
                                              "message (200) and delivers nothing twice")
    kind: MessageKindName = "text"
    text: str = ""
    attachments: list[AttachmentIn] = Field(default_factory=list)
    reply_to: int | None = Field(default=None, ge=1)


class SeedSendIn(In):
    """The seed system's body: text and/or an image URL from the upload route."""

    text: str | None = None
    message: str | None = Field(default=None, description="Alias of text")
    image: str | None = Field(default=None, max_length=2048)
    client_id: str | None = Field(default=None, min_length=1, max_length=64)


class ReadIn(In):
    seq: int = Field(ge=0)


class PeerOut(Out):
    id: int
    name: str
    username: str
    avatar_url: str | None
    status: str
    online: bool


@api.route("GET", "/api/v1/ws/schema", summary="JSON Schema of every WebSocket frame",
           tags=TAGS, auth=False, raw_response={"type": "object"})
async def ws_schema(call: Call[None, None]) -> Response:
    return JsonResponse(orjson.dumps(json_schema()))


@api.route("GET", "/api/v1/conversations", summary="Your conversations, latest activity first",
           tags=TAGS, response=ConversationsOut)
async def list_conversations(call: Call[None, None]) -> ConversationsOut:
    found = await call.services.chat.conversations(call.user_id)
    return ConversationsOut(conversations=[conversation_out(c, call.user_id) for c in found])


@api.route("POST", "/api/v1/conversations",
           summary="Open the direct conversation with a friend, or create a group",
           tags=TAGS, body=NewConversationIn, response=ConversationOut, status=201,
           errors=(403, 422))
async def create_conversation(call: Call[NewConversationIn, None]) -> ConversationOut:
    b, chat = call.body, call.services.chat
    if b.kind == "direct":
        if b.user_id is None:
            raise field_error("user_id", "is required for a direct conversation", "missing")
        conversation = await chat.open_direct(call.user_id, b.user_id)
    else:
        if not b.name:
            raise field_error("name", "is required for a group", "missing")
        conversation = await chat.create_group(call.user_id, b.name, b.member_ids,
                                               b.description, b.avatar_url)
    return conversation_out(conversation, call.user_id)


@api.route("GET", "/api/v1/conversations/{id}/messages",
           summary="History by seq: the newest (before=) or onward (after=)", tags=TAGS,
           query=HistoryQuery, response=MessagesOut, errors=(403,))
async def history(call: Call[None, HistoryQuery]) -> MessagesOut:
    q = call.query
    found = await call.services.chat.history(call.user_id, call.path("id"), before=q.before,
                                             after=q.after, limit=q.limit)
    return MessagesOut(messages=[message_out(m) for m in found])


@api.route("POST", "/api/v1/conversations/{id}/messages", summary="Send a message",
           tags=TAGS, body=SendIn, response=MessageOut, status=201, errors=(403, 422, 503))
async def send(call: Call[SendIn, None]) -> Response:
    b = call.body
    message, created = await call.services.chat.send_message(
        call.user_id, call.path("id"), client_id=b.client_id or uuid.uuid4().hex,
        text=b.text, kind=MessageKind(b.kind), reply_to=b.reply_to,
        attachments=attachments_of(b.attachments))
    return JsonResponse(message_out(message).model_dump_json(),
                        status_code=201 if created else 200)


@api.route("POST", "/api/v1/conversations/{id}/read", summary="Mark read up to a seq",
           tags=TAGS, body=ReadIn, response=ConversationOut, errors=(403,))
async def mark_read(call: Call[ReadIn, None]) -> ConversationOut:
    conversation = await call.services.chat.mark(call.user_id, call.path("id"),
                                                 ReceiptKind.READ, call.body.seq)
    return conversation_out(conversation, call.user_id)


# -- the seed system's routes, kept as specified ------------------------------------------

@api.route("GET", "/api/messages/users", summary="Friends you can chat with", tags=TAGS,
           raw_response={"type": "array"})
async def seed_users(call: Call[None, None]) -> Response:
    hub = call.services.hub
    friends = await call.services.chat.friends(call.user_id)
    body = [PeerOut(id=f.id, name=f.name, username=f.username, avatar_url=f.avatar_url,
                    status=f.status, online=hub.online(f.id)).model_dump() for f in friends]
    return JsonResponse(orjson.dumps(body))


@api.route("GET", "/api/messages/{id:int}", summary="Your history with user id",
           tags=TAGS, raw_response={"type": "array"}, errors=(403,))
async def seed_history(call: Call[None, None]) -> Response:
    found = await call.services.chat.direct_history(call.user_id, call.path("id"))
    return JsonResponse(orjson.dumps([message_out(m).model_dump() for m in found]))


@api.route("POST", "/api/messages/send/{id:int}",
           summary="Send text and/or an image to a friend; they get it live as newMessage",
           tags=TAGS, body=SeedSendIn, response=MessageOut, status=201,
           errors=(403, 422, 503))
async def seed_send(call: Call[SeedSendIn, None]) -> Response:
    b = call.body
    attachments = [Attachment(b.image, MessageKind.IMAGE)] if b.image else []
    message, created = await call.services.chat.send_direct(
        call.user_id, call.path("id"), client_id=b.client_id or uuid.uuid4().hex,
        text=b.text if b.text is not None else (b.message or ""),
        kind=MessageKind.IMAGE if b.image else MessageKind.TEXT, attachments=attachments)
    return JsonResponse(message_out(message).model_dump_json(),
                        status_code=201 if created else 200)
