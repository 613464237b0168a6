"""Chat over HTTP, messages: history, sending, read marks, edits, deletes, reactions, search.

Every route calls the same `ChatService` use cases as the WebSocket commands
(`nirvana/ws/handlers/`) and answers with the same models (`nirvana/ws/views.py`), so both
paths apply the same rules and agree on what a message looks like.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field
from starlette.responses import Response

from ...domain.chat.entities import MessageKind, ReceiptKind
from ...domain.chat.limits import ChatLimits
from ...ws.attachments import attachments_of
from ...ws.commands import AttachmentIn
from ...ws.frames import ConversationOut, MessageKindName, MessageOut
from ...ws.views import conversation_out, message_out
from ..api import Api, Call, In, JsonResponse, Out
from ...schema_text import Lines

api = Api()
TAGS = ["chat"]
CONVERSATION = "/api/v1/conversations/{id}"
MESSAGE = CONVERSATION + "/messages/{seq:int}"
MAX_TEXT = ChatLimits().max_text
TEXT_DOC = ("May hold line breaks; a message needs text that shows something (not only "
            "spaces or invisible characters) or an attachment")

class MessagesOut(Out):
    messages: list[MessageOut]


class HistoryQuery(In):
    before: int | None = Field(default=None, ge=1)
    after: int | None = Field(default=None, ge=0)
    limit: int = Field(default=50, ge=1, le=100)


class SendIn(In):
    client_id: str | None = Field(default=None, min_length=1, max_length=64,
                                  description="Idempotency key; a retry returns the stored "
                                              "message (200) and delivers nothing twice. "
                                              "Left out, the server makes one: a retry then "
                                              "stores a second copy")
    kind: MessageKindName = "text"
    text: Lines = Field(default="", max_length=MAX_TEXT, description=TEXT_DOC)
    attachments: list[AttachmentIn] = Field(default_factory=list)
    reply_to: int | None = Field(default=None, ge=1)


class ReadIn(In):
    seq: int = Field(ge=0)


class EditIn(In):
    text: Lines = Field(max_length=MAX_TEXT,
                        description="May be blank only if the message has an attachment")


class DeleteQuery(In):
    scope: Literal["me", "everyone"] = "everyone"


class MessageSearchQuery(In):
    q: str = Field(min_length=1, max_length=200)
    conversation_id: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=20, ge=1, le=100)


@api.route("GET", "/api/v1/conversations/{id}/messages",
           summary="History by seq: the newest (before=) or onward (after=)", tags=TAGS,
           query=HistoryQuery, response=MessagesOut, errors=(403,))
async def history(call: Call[None, HistoryQuery]) -> MessagesOut:
    q = call.query
    found = await call.services.chat.history(call.user_id, call.path("id"), before=q.before,
                                             after=q.after, limit=q.limit)
    return MessagesOut(messages=[message_out(m) for m in found])


@api.route("POST", "/api/v1/conversations/{id}/messages", summary="Send a message",
           tags=TAGS, body=SendIn, response=MessageOut, status=201, errors=(403, 409, 422, 503),
           also=(200,))
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
async def mark_conversation_read(call: Call[ReadIn, None]) -> ConversationOut:
    conversation = await call.services.chat.mark(call.user_id, call.path("id"),
                                                 ReceiptKind.READ, call.body.seq)
    return conversation_out(conversation, call.user_id)


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
           tags=TAGS, query=MessageSearchQuery, response=MessagesOut, errors=(403, 422))
async def search(call: Call[None, MessageSearchQuery]) -> MessagesOut:
    q = call.query
    found = await call.services.chat.search(call.user_id, q.q,
                                            conversation_id=q.conversation_id, limit=q.limit)
    return MessagesOut(messages=[message_out(m) for m in found])
