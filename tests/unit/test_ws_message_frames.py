"""The frames of a send, encoded straight from the message (ws/message_frames.py), are the
bytes the pydantic models encode: clients and the served schema see no difference."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nirvana.domain.chat.entities import Attachment, Message, MessageKind
from nirvana.ws import events as ev
from nirvana.ws.message_frames import message_json, new_message_frame, send_ack_frame
from nirvana.ws.protocol import json_schema
from nirvana.ws.times import chat_time
from nirvana.ws.views import message_out, presence_out
from tests.support.frame_schema import ServerFrames

SENT = datetime(2026, 12, 5, 3, 30, 1, 123000, tzinfo=timezone.utc)
# Text a message may hold: anything but control characters, tab and line breaks included
# (the domain refuses the rest before a message exists), and no lone surrogates.
TEXT = st.text(st.characters(blacklist_categories=("Cc", "Cs")) | st.sampled_from("\t\n\r"))
BIG = st.integers(min_value=1, max_value=(1 << 62) - 1)


def models(m: Message) -> tuple[str, str, str]:
    out = message_out(m)
    return (ev.encode(ev.NewMessage(pos=m.pos, message=out)),
            ev.encode(ev.Ack(id="r-1", message=out, duplicate=False)),
            ev.encode(ev.Ack(id="r-2", message=out, duplicate=True)))


def direct(m: Message) -> tuple[str, str, str]:
    return (new_message_frame(m), send_ack_frame("r-1", m, False),
            send_ack_frame("r-2", m, True))


def message(**changes) -> Message:
    fields = dict(id="5d1f3c2e6a0b4f7e9c412b8e0d7a9f13", conversation_id="c" * 32, seq=3,
                  pos=41, sender_id=7, client_id="k-1", kind=MessageKind.TEXT, text="hi",
                  attachments=(), reply_to=None, created_at=SENT, audience=(7, 8))
    return Message(**{**fields, **changes})


def test_a_plain_message_is_encoded_as_the_models_encode_it():
    assert direct(message()) == models(message())


def test_optional_fields_attachments_and_tombstones_are_encoded_as_the_models_do():
    files = (Attachment("https://x.test/a.png", MessageKind.IMAGE, "a.png", 1 << 40),
             Attachment("/media/u/b", MessageKind.FILE), Attachment("https://x.test/c", name="c"))
    for m in [message(attachments=files, kind=MessageKind.IMAGE, text=""),
              message(reply_to=2, edited_at=SENT + timedelta(seconds=3)),
              message(reactions=(("👍", (8, 7)), ("🎉", (7,)))),
              message(deleted=True, attachments=files, text="gone", edited_at=SENT),
              message(created_at=SENT.replace(microsecond=0)),
              message(created_at=SENT.astimezone(timezone(timedelta(hours=-5))))]:
        assert direct(m) == models(m)


@settings(max_examples=300, deadline=None)
@given(text=TEXT, client_id=TEXT.filter(bool), seq=BIG, pos=BIG, sender=BIG,
       reply_to=st.none() | BIG, name=st.none() | TEXT, size=st.none() | BIG,
       emoji=TEXT.filter(bool))
def test_any_text_and_number_is_encoded_as_the_models_encode_it(text, client_id, seq, pos,
                                                                sender, reply_to, name, size,
                                                                emoji):
    m = message(text=text, client_id=client_id, seq=seq, pos=pos, sender_id=sender,
                reply_to=reply_to, attachments=(Attachment("https://x.test/" + text, name=name,
                                                           size=size),),
                reactions=((emoji, (sender, 1)),))
    assert direct(m) == models(m)


def test_an_ack_carries_its_own_message_whatever_was_delivered_before():
    delivered = message(text="first")
    new_message_frame(delivered)
    for m in [replace(delivered, text="changed since"), message(id="never-delivered")]:
        assert send_ack_frame("r-2", m, True) == models(m)[2]
    for n in range(600):  # more than are kept for the acks: the oldest are encoded again
        new_message_frame(message(id=f"m{n}", pos=n + 1))
    assert send_ack_frame("r-1", delivered, False) == models(delivered)[1]


def test_a_message_encoded_without_its_newMessage_is_kept_for_the_frames_after():
    """Past the newest `newMessage` frames (a busy server), each mark of a run would encode
    its conversation's last message again: the first encoding is kept, for that object."""
    m = message(id="encoded-after-its-newMessage-was-dropped")
    body = message_json(m)
    assert message_json(m) is body
    edited = replace(m, text="edited", edited_at=SENT)
    assert json.loads(message_json(edited)) == json.loads(models(edited)[1])["message"]


def test_the_frames_follow_the_served_schema():
    frames = ServerFrames(json_schema())
    for text in direct(message(reply_to=1, attachments=(Attachment("https://x.test/a"),))):
        frames.check(json.loads(text))


def test_every_field_the_model_has_is_encoded_when_set():
    """A field added to the model but not to `message_data` would pass the byte tests
    above only if none of them set it: this one names the model's fields."""
    from nirvana.ws.message_frames import message_data
    from nirvana.ws.frames import MessageOut

    full = message(attachments=(Attachment("https://x.test/a", MessageKind.FILE, "a", 3),),
                   reply_to=2, edited_at=SENT, reactions=(("👍", (8,)),))
    assert set(message_data(full)) == set(MessageOut.model_fields)


def test_chat_times_always_carry_three_fraction_digits():
    whole, micro = SENT.replace(microsecond=0), SENT.replace(microsecond=123456)
    m = message(created_at=whole, edited_at=micro)
    for frame in (*direct(m), *models(m)):
        sent = json.loads(frame)["message"]
        assert (sent["created_at"], sent["edited_at"]) == (
            "2026-12-05T03:30:01.000+00:00", "2026-12-05T03:30:01.123+00:00")
    assert presence_out(7, "offline", micro).last_seen == "2026-12-05T03:30:01.123+00:00"


def test_a_chat_time_is_written_in_utc_and_a_naive_one_is_refused():
    east = SENT.replace(microsecond=123456).astimezone(timezone(timedelta(hours=2)))
    assert chat_time(east) == "2026-12-05T03:30:01.123+00:00"
    with pytest.raises(ValueError):
        chat_time(SENT.replace(tzinfo=None))


def test_the_served_schema_states_the_chat_time_form():
    frames = ServerFrames(json_schema())
    seen = json.loads(ev.encode(ev.PresenceEvent(user_id=1, state="offline",
                                                 last_seen="2026-12-05T03:30:01.000+00:00")))
    frames.check(seen)
    for wrong in ("2026-12-05T03:30:01+00:00", "2026-12-05T05:30:01.000+02:00"):
        with pytest.raises(AssertionError, match="last_seen"):
            frames.check({**seen, "last_seen": wrong})
