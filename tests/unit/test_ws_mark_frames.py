"""The frames of a mark, encoded straight from the domain's objects (ws/mark_frames.py), are
the bytes the pydantic models encode: clients and the served schema see no difference."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from nirvana.domain.chat.entities import (
    Attachment,
    Conversation,
    ConversationKind,
    Member,
    Message,
    MessageKind,
    Receipt,
    ReceiptKind,
    Role,
)
from nirvana.ws import events as ev
from nirvana.ws.mark_frames import (
    conversation_ack_frame,
    conversation_data,
    conversation_updated_frame,
    receipt_frame,
)
from nirvana.ws.frames import ConversationOut, MemberOut
from nirvana.ws.message_frames import new_message_frame
from nirvana.ws.protocol import json_schema
from nirvana.ws.views import conversation_out, stream_event
from tests.support.frame_schema import ServerFrames

AT = datetime(2026, 12, 7, 1, 2, 3, 456000, tzinfo=timezone.utc)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)))  # control characters too
BIG = st.integers(min_value=0, max_value=(1 << 62) - 1)
READ = Receipt(pos=91, conversation_id="c" * 32, user_id=8, kind=ReceiptKind.READ, seq=5,
               audience=(7, 8, 9))


def models(c: Conversation, viewer: int) -> tuple[str, str]:
    out = conversation_out(c, viewer)
    return (ev.encode(ev.ConversationUpdated(conversation=out)),
            ev.encode(ev.Ack(id="r-1", conversation=out)))


def direct(c: Conversation, viewer: int) -> tuple[str, str]:
    return conversation_updated_frame(c, viewer), conversation_ack_frame("r-1", c, viewer)


def message(**changes) -> Message:
    fields = dict(id="m" * 32, conversation_id="c" * 32, seq=5, pos=90, sender_id=7,
                  client_id="k-5", kind=MessageKind.TEXT, text="hello", attachments=(),
                  reply_to=None, created_at=AT, audience=(7, 8, 9))
    return Message(**{**fields, **changes})


def conversation(**changes) -> Conversation:
    fields = dict(id="c" * 32, kind=ConversationKind.GROUP,
                  members=[Member(7, Role.OWNER, 5, 5), Member(8, Role.ADMIN, 2, 4),
                           Member(9, Role.MEMBER)],
                  created_by=7, created_at=AT, last_activity=AT, name="Trip",
                  description=None, avatar_url=None, last_seq=5, last_message=message())
    return Conversation(**{**fields, **changes})


def test_a_group_is_encoded_as_the_models_encode_it_for_each_viewer():
    c = conversation()
    for viewer in (7, 8, 9, 404):  # 404: not a member (unread 0)
        assert direct(c, viewer) == models(c, viewer)


def test_optional_parts_and_the_last_message_are_encoded_as_the_models_do():
    files = (Attachment("https://x.test/a.png", MessageKind.IMAGE, "a.png", 10),)
    for c in [conversation(kind=ConversationKind.DIRECT, name=None,
                           members=[Member(7), Member(8)]),
              conversation(last_message=None, last_seq=0),
              conversation(description="ünïcode \"quoted\" \\", avatar_url="/media/7/a"),
              conversation(last_message=message(hidden_for=(8,))),  # deleted for 8 only
              conversation(last_message=message(deleted=True, attachments=files, text="x",
                                                edited_at=AT + timedelta(seconds=1))),
              conversation(last_message=message(reactions=(("👍", (8, 9)),), reply_to=2)),
              conversation(last_activity=AT.astimezone(timezone(timedelta(hours=3))))]:
        for viewer in (7, 8):
            assert direct(c, viewer) == models(c, viewer)


@settings(max_examples=100, deadline=None)
@given(name=st.none() | TEXT, description=st.none() | TEXT, request_id=TEXT.filter(bool),
       marks=st.lists(st.tuples(BIG, st.sampled_from(Role), BIG, BIG), max_size=12),
       last_seq=BIG, text=TEXT)
def test_any_text_and_number_is_encoded_as_the_models_encode_it(name, description,
                                                                request_id, marks,
                                                                last_seq, text):
    c = conversation(name=name, description=description, last_seq=last_seq,
                     members=[Member(*m) for m in marks], last_message=message(text=text))
    viewer = marks[0][0] if marks else 1
    assert conversation_ack_frame(request_id, c, viewer) == ev.encode(
        ev.Ack(id=request_id, conversation=conversation_out(c, viewer)))
    assert conversation_updated_frame(c, viewer) == models(c, viewer)[0]


def test_the_last_message_is_what_it_is_now_whatever_its_newMessage_carried():
    sent = message(text="first")
    new_message_frame(sent)  # its JSON is kept for the frames that follow
    for last in [sent, message(text="edited since", edited_at=AT),
                 message(text="first", hidden_for=(8,))]:
        c = conversation(last_message=last)
        for viewer in (7, 8):
            assert direct(c, viewer) == models(c, viewer)


@settings(max_examples=100, deadline=None)
@given(pos=BIG, seq=BIG, user=BIG, kind=st.sampled_from(ReceiptKind),
       conversation_id=TEXT.filter(bool))
def test_a_receipt_is_encoded_as_a_resume_replays_it(pos, seq, user, kind, conversation_id):
    r = Receipt(pos=pos, conversation_id=conversation_id, user_id=user, kind=kind, seq=seq,
                audience=(user,))
    assert receipt_frame(r) == ev.encode(stream_event(r))


def test_the_frames_follow_the_served_schema():
    frames = ServerFrames(json_schema())
    for text in (*direct(conversation(), 8), receipt_frame(READ)):
        frames.check(json.loads(text))


def test_every_field_the_models_have_is_encoded():
    """A field added to a model but not here would pass the byte tests above only if none of
    them set it: this one names the models' fields."""
    data = conversation_data(conversation(), 7)
    assert set(data) == set(ConversationOut.model_fields)
    assert set(data["members"][0]) == set(MemberOut.model_fields)
    updated = json.loads(conversation_updated_frame(conversation(), 7))
    assert set(updated) == set(ev.ConversationUpdated.model_fields)
    assert set(json.loads(receipt_frame(READ))) == set(ev.ReceiptEvent.model_fields)
