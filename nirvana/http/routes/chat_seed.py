"""The seed system's chat routes (/api/messages/*), kept as specified: friends to chat with,
history with one friend, and sending to one.

They call the same `ChatService` as every other chat route and answer with the same message
model (`nirvana/ws/views.py`).
"""

from __future__ import annotations

import uuid

import orjson
from pydantic import Field
from starlette.responses import Response

from ...domain.chat.limits import ChatLimits
from ...domain.chat.entities import Attachment, MessageKind
from ...ws.frames import MessageOut
from ...ws.views import message_out
from ..api import Api, Call, In, JsonResponse, Out
from ...schema_text import Lines

api = Api()
TAGS = ["chat"]
MAX_TEXT = ChatLimits().max_text
TEXT_DOC = "May hold line breaks; text that shows something, or an image"


class SeedSendIn(In):
    """The seed system's body: text and/or an image URL from the upload route."""

    text: Lines | None = Field(default=None, max_length=MAX_TEXT, description=TEXT_DOC)
    message: Lines | None = Field(default=None, max_length=MAX_TEXT, description="Alias of text")
    image: str | None = Field(default=None, max_length=2048)
    client_id: str | None = Field(default=None, min_length=1, max_length=64)


class PeerOut(Out):
    id: int
    name: str
    username: str
    avatar_url: str | None
    status: str
    online: bool


@api.route("GET", "/api/messages/users", summary="Friends you can chat with", tags=TAGS,
           response_items=PeerOut)
async def seed_users(call: Call[None, None]) -> Response:
    hub = call.services.hub
    friends = await call.services.chat.friends(call.user_id)
    body = [PeerOut(id=f.id, name=f.name, username=f.username, avatar_url=f.avatar_url,
                    status=f.status, online=hub.online(f.id)).model_dump() for f in friends]
    return JsonResponse(orjson.dumps(body))


@api.route("GET", "/api/messages/{id:int}", summary="Your history with user id",
           tags=TAGS, response_items=MessageOut, errors=(403,))
async def seed_history(call: Call[None, None]) -> Response:
    found = await call.services.chat.direct_history(call.user_id, call.path("id"))
    return JsonResponse(orjson.dumps([message_out(m).model_dump() for m in found]))


@api.route("POST", "/api/messages/send/{id:int}",
           summary="Send text and/or an image to a friend; they get it live as newMessage",
           tags=TAGS, body=SeedSendIn, response=MessageOut, status=201,
           errors=(403, 422, 503), also=(200,))
async def seed_send(call: Call[SeedSendIn, None]) -> Response:
    b = call.body
    attachments = [Attachment(b.image, MessageKind.IMAGE)] if b.image else []
    message, created = await call.services.chat.send_direct(
        call.user_id, call.path("id"), client_id=b.client_id or uuid.uuid4().hex,
        text=b.text if b.text is not None else (b.message or ""),
        kind=MessageKind.IMAGE if b.image else MessageKind.TEXT, attachments=attachments)
    return JsonResponse(message_out(message).model_dump_json(),
                        status_code=201 if created else 200)
