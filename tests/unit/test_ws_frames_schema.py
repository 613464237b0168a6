"""Server frames carry every field the served JSON Schema requires, `null` included, and
leave out only the optional ones (the same check runs on every frame of the e2e suite)."""

from __future__ import annotations

import json

from nirvana.ws import events as ev
from nirvana.ws.frames import ConversationOut, MessageOut
from nirvana.ws.protocol import json_schema
from tests.support.frame_schema import ServerFrames

MESSAGE = MessageOut(id="m", conversation_id="c", seq=1, pos=5, sender_id=7, client_id="k",
                     kind="text", text="hi", attachments=[], reply_to=None,
                     created_at="2025-01-01T10:00:00.000+00:00")
DIRECT = ConversationOut(id="c", kind="direct", name=None, description=None, avatar_url=None,
                         members=[], last_seq=0, last_message=None,
                         last_activity="2025-01-01T10:00:00.000+00:00", unread=0)


def sent(event) -> dict:
    frame = json.loads(ev.encode(event))
    ServerFrames(json_schema()).check(frame)
    return frame


def test_required_fields_are_sent_as_null():
    assert sent(ev.NewMessage(pos=5, message=MESSAGE))["message"]["reply_to"] is None
    conversation = sent(ev.ConversationUpdated(conversation=DIRECT))["conversation"]
    assert {k: conversation[k] for k in ("name", "description", "avatar_url", "last_message")
            } == dict.fromkeys(("name", "description", "avatar_url", "last_message"))
    assert sent(ev.Error(id=None, code="invalid_json", message="m"))["id"] is None
    assert sent(ev.Resumed(id=None, head=3))["id"] is None
    assert sent(ev.ResyncRequired(id=None, head=3, reason="r"))["id"] is None
    assert sent(ev.PresenceEvent(user_id=1, state="offline", last_seen=None))["last_seen"] is None


def test_optional_fields_are_left_out_when_null():
    ack = sent(ev.Ack(id="r1", message=MESSAGE, duplicate=False))
    assert set(ack) == {"type", "id", "message", "duplicate"}
    assert "edited_at" not in ack["message"] and "reactions" not in ack["message"]
    assert set(sent(ev.Error(id="r", code="x", message="m"))) == {"type", "id", "code",
                                                                  "message"}
