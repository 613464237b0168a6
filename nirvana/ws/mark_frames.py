"""The frames a `read` or `delivered` mark brings — the `receipt` every member gets, and the
marker's `conversation.updated` and `ack`, each holding the whole conversation — encoded
straight from the domain's objects with orjson. Every other `conversation.updated` is
encoded here too (hub.py `conversation_changed`): a group created, and after each change
event (members added or removed, a role, a rename, a message edited or deleted, a
delete-for-me) to the members it concerns, each with its last message.

They carry exactly what `events.ReceiptEvent`, `events.ConversationUpdated` and
`events.Ack` with `views.conversation_out` would encode, field for field and in the same
order (the models stay the schema and serve the other frames); tests/unit/
test_ws_mark_frames.py checks the bytes agree, so the conversations it encodes must hold
each of those shapes. The domain's types are trusted, as in
message_frames.py: what the models checked (a role or kind among their literals, a number
coerced to int) the domain's enums and the store's ints already hold. Made here because
clients answer every message with a mark, and built as pydantic models the two
conversations of each were a fifth of the server's CPU in rooms of 10, growing with the
members (docs/performance.md, "What a receipt costs the chat server").
"""

from __future__ import annotations

from typing import Any

import orjson

from ..domain.chat.entities import Conversation, Receipt
from .message_frames import message_json
from .times import chat_time


def receipt_frame(r: Receipt) -> str:
    """`events.encode(ReceiptEvent(...))` of the stored receipt `r`."""
    return (b'{"type":"receipt","pos":%d,"conversation_id":%b,"user_id":%d,"kind":"%b",'
            b'"seq":%d}' % (r.pos, orjson.dumps(r.conversation_id), r.user_id,
                            r.kind.value.encode(), r.seq)).decode()


def conversation_data(c: Conversation, viewer: int) -> dict[str, Any]:
    """`views.conversation_out(c, viewer)` as plain data; the last message as JSON already
    made, usually by its `newMessage` a moment before."""
    last = c.last_message
    return {
        "id": c.id, "kind": c.kind.value, "name": c.name, "description": c.description,
        "avatar_url": c.avatar_url,
        "members": [{"user_id": m.user_id, "role": m.role, "read_seq": m.read_seq,
                     "delivered_seq": m.delivered_seq} for m in c.members],
        "last_seq": c.last_seq,
        "last_message": orjson.Fragment(message_json(last))
        if last and last.visible_to(viewer) else None,
        "last_activity": chat_time(c.last_activity), "unread": c.unread_for(viewer),
    }


def conversation_updated_frame(c: Conversation, viewer: int) -> str:
    """`events.encode(ConversationUpdated(conversation=conversation_out(c, viewer)))`."""
    return (b'{"type":"conversation.updated","conversation":%b}'
            % orjson.dumps(conversation_data(c, viewer))).decode()


def conversation_ack_frame(request_id: str, c: Conversation, viewer: int) -> str:
    """`events.encode(Ack(id=request_id, conversation=conversation_out(c, viewer)))`."""
    return (b'{"type":"ack","id":%b,"conversation":%b}' % (
        orjson.dumps(request_id), orjson.dumps(conversation_data(c, viewer)))).decode()
