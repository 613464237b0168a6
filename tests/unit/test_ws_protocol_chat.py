"""The codec of the group, edit, reaction, search and presence frames, fed strings."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from nirvana.domain.chat.entities import ChatEvent, EventType, Message, MessageKind
from nirvana.ws import commands as c
from nirvana.ws import events as ev
from nirvana.ws import protocol as p
from nirvana.ws.views import stream_event

T = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("frame, model", [
    ({"type": "update_group", "id": "1", "conversation_id": "c", "name": "N"}, c.UpdateGroup),
    ({"type": "add_members", "id": "1", "conversation_id": "c", "user_ids": [2]},
     c.AddMembers),
    ({"type": "remove_members", "id": "1", "conversation_id": "c", "user_ids": [2]},
     c.RemoveMembers),
    ({"type": "leave", "id": "1", "conversation_id": "c"}, c.Leave),
    ({"type": "set_role", "id": "1", "conversation_id": "c", "user_id": 2, "role": "admin"},
     c.SetRole),
    ({"type": "edit", "id": "1", "conversation_id": "c", "seq": 3, "text": "t"}, c.Edit),
    ({"type": "delete", "id": "1", "conversation_id": "c", "seq": 3, "scope": "me"},
     c.Delete),
    ({"type": "react", "id": "1", "conversation_id": "c", "seq": 3, "emoji": "👍"}, c.React),
    ({"type": "search", "id": "1", "q": "hello"}, c.Search),
    ({"type": "presence", "id": "1", "state": "away"}, c.SetPresence),
    ({"type": "presence_of", "id": "1", "user_ids": [2, 3]}, c.PresenceOf),
])
def test_new_commands_parse(frame, model):
    assert isinstance(p.parse(json.dumps(frame)), model)


@pytest.mark.parametrize("frame, field", [
    ({"type": "set_role", "id": "1", "conversation_id": "c", "user_id": 2, "role": "god"},
     "role"),
    ({"type": "delete", "id": "1", "conversation_id": "c", "seq": 0}, "seq"),
    ({"type": "presence", "id": "1", "state": "offline"}, "state"),
    ({"type": "add_members", "id": "1", "conversation_id": "c", "user_ids": []}, "user_ids"),
    ({"type": "search", "id": "1", "q": ""}, "q"),
])
def test_invalid_new_commands_name_the_field(frame, field):
    with pytest.raises(p.ProtocolError) as info:
        p.parse(json.dumps(frame))
    assert info.value.request_id == "1"
    assert field in {d["field"] for d in info.value.details}


def test_update_group_tells_a_sent_null_from_an_absent_field():
    cmd = p.parse(json.dumps({"type": "update_group", "id": "1", "conversation_id": "c",
                              "avatar_url": None}))
    assert cmd.model_fields_set == {"type", "id", "conversation_id", "avatar_url"}


def message(**kw) -> Message:
    base = dict(id="m", conversation_id="c", seq=1, pos=5, sender_id=1, client_id="k",
                kind=MessageKind.TEXT, text="hi", attachments=(), reply_to=None,
                created_at=T)
    return Message(**{**base, **kw})


def test_durable_change_events_encode_with_pos():
    reacted = message(reactions=(("👍", (2, 3)),))
    e = ChatEvent(9, EventType.REACTION, "c", 2, (1, 2), T,
                  {"seq": 1, "emoji": "👍", "user_id": 2, "added": True}, reacted)
    out = json.loads(ev.encode(stream_event(e)))
    assert out["type"] == "reaction" and out["pos"] == 9
    assert out["message"]["reactions"] == {"👍": [2, 3]}
    removed = ChatEvent(10, EventType.MEMBER_REMOVED, "c", 1, (1, 2), T,
                        {"user_ids": [2], "left": False})
    assert json.loads(ev.encode(stream_event(removed))) == {
        "type": "member.removed", "pos": 10, "conversation_id": "c", "actor_id": 1,
        "user_ids": [2], "left": False}


def test_schema_lists_the_new_frames():
    schema = json.dumps(p.json_schema())
    for name in ("MessageEdited", "MemberRemoved", "PresenceEvent", "ProfileUpdated",
                 "SetPresence", "ResumeWindowOut"):
        assert name in schema
