"""The two frames of every send — the `newMessage` each recipient gets and the sender's
`ack` — encoded straight from the domain's `Message` with orjson.

They carry exactly what `events.NewMessage` and `events.Ack` with `views.message_out` would
encode, field for field and in the same order (the models stay the schema and serve every
other frame); tests/unit/test_ws_message_frames.py checks the bytes agree. Made here because
building and validating the pydantic models twice per send was the largest part of a send's
CPU after the socket writes (docs/performance.md, "The server's CPU per send").
"""

from __future__ import annotations

from typing import Any

import orjson

from ..domain.chat.entities import Message


def message_data(m: Message) -> dict[str, Any]:
    """`views.message_out(m)` as plain data, with its optional fields left out when null."""
    deleted = m.deleted
    attachments = []
    if not deleted:
        for a in m.attachments:
            out: dict[str, Any] = {"url": a.url, "kind": a.kind.value}
            if a.name is not None:
                out["name"] = a.name
            if a.size is not None:
                out["size"] = a.size
            attachments.append(out)
    data = {
        "id": m.id, "conversation_id": m.conversation_id, "seq": m.seq, "pos": m.pos,
        "sender_id": m.sender_id, "client_id": m.client_id, "kind": m.kind.value,
        "text": "" if deleted else m.text, "attachments": attachments,
        "reply_to": m.reply_to, "created_at": m.created_at.isoformat(),
    }
    if m.edited_at is not None:
        data["edited_at"] = m.edited_at.isoformat()
    data["deleted"] = deleted
    if m.reactions:
        data["reactions"] = {e: list(users) for e, users in m.reactions}
    return data


def new_message_frame(message: Message, data: dict[str, Any] | None = None) -> str:
    """`events.encode(NewMessage(pos=message.pos, message=message_out(message)))`;
    `data`: `message_data(message)` when the caller has it already."""
    return orjson.dumps({"type": "newMessage", "pos": message.pos,
                         "message": data if data is not None else message_data(message)
                         }).decode()


def send_ack_frame(request_id: str, message: Message, duplicate: bool) -> str:
    """`events.encode(Ack(id=request_id, message=message_out(message),
    duplicate=duplicate))`: the answer to a `send`."""
    return orjson.dumps({"type": "ack", "id": request_id, "message": message_data(message),
                         "duplicate": duplicate}).decode()
