"""The two frames of every send — the `newMessage` each recipient gets and the sender's
`ack` — encoded straight from the domain's `Message` with orjson, and a message's JSON
(`message_json`) for the other frames that carry one: mark_frames.py takes a
conversation's last message from here for every `conversation.updated` and a mark's `ack`.

They carry exactly what `events.NewMessage` and `events.Ack` with `views.message_out` would
encode, field for field and in the same order (the models stay the schema and serve every
other frame); tests/unit/test_ws_message_frames.py checks the bytes agree. Made here because
building and validating the pydantic models twice per send was the largest part of a send's
CPU after the socket writes (docs/performance.md, "The server's CPU per send"). The ack,
and the marks that follow, take the message's JSON from the `newMessage` made before them
(kept for the identical `Message` only).
"""

from __future__ import annotations

from typing import Any

import orjson

from ..domain.chat.entities import Message
from .times import chat_time


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
        "reply_to": m.reply_to, "created_at": chat_time(m.created_at),
    }
    if m.edited_at is not None:
        data["edited_at"] = chat_time(m.edited_at)
    data["deleted"] = deleted
    if m.reactions:
        data["reactions"] = {e: list(users) for e, users in m.reactions}
    return data


# The message part of the newest frames that carried a message, by message id: a send's
# ack carries the same message, a loop turn or two after its fan-out (`pipeline.py`), and
# the receipts that follow carry it as their conversation's last message (mark_frames.py);
# all take it from here instead of encoding it again. Kept only for the identical object
# (`Message` is frozen: an edit, a delete or an erasure is a new one). Bounded: a miss
# costs the encoding once, and is kept for the next.
_RECENT = 256
_recent: dict[str, tuple[Message, bytes]] = {}


def _kept(message: Message, body: bytes) -> bytes:
    _recent[message.id] = (message, body)
    if len(_recent) > _RECENT:
        del _recent[next(iter(_recent))]
    return body


def message_json(message: Message) -> bytes:
    """`message_data(message)` as JSON."""
    found = _recent.get(message.id)
    if found is not None and found[0] is message:
        return found[1]
    return _kept(message, orjson.dumps(message_data(message)))


def new_message_frame(message: Message) -> str:
    """`events.encode(NewMessage(pos=message.pos, message=message_out(message)))`."""
    body = _kept(message, orjson.dumps(message_data(message)))
    return (b'{"type":"newMessage","pos":%d,"message":%b}' % (message.pos, body)).decode()


def send_ack_frame(request_id: str, message: Message, duplicate: bool) -> str:
    """`events.encode(Ack(id=request_id, message=message_out(message),
    duplicate=duplicate))`: the answer to a `send`."""
    return (b'{"type":"ack","id":%b,"message":%b,"duplicate":%b}' % (
        orjson.dumps(request_id), message_json(message),
        b"true" if duplicate else b"false")).decode()
