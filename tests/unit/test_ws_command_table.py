"""The command table: every command frame a client may send has a handler, and the frame
union, the list of types and the dispatch agree because they come from the one table."""

from __future__ import annotations

import inspect
import json

from nirvana.domain.chat.entities import Attachment, MessageKind
from nirvana.ws import command_table as ct
from nirvana.ws import commands as c
from nirvana.ws import protocol as p
from nirvana.ws.attachments import attachments_of
from nirvana.ws.frames import Frame

MINIMAL = {"id": "r1", "conversation_id": "c1", "client_id": "k", "user_id": 2, "seq": 1,
           "since": 0, "text": "t", "emoji": "👍", "q": "x", "state": "away",
           "role": "admin", "user_ids": [2]}


def _command_frames() -> list[type[Frame]]:
    return [cls for _, cls in inspect.getmembers(c, inspect.isclass)
            if issubclass(cls, Frame) and cls.__module__ == c.__name__
            and "type" in cls.model_fields]


def test_every_command_frame_has_a_handler():
    missing = [cls.__name__ for cls in _command_frames() if cls not in ct.COMMANDS]
    assert not missing, f"command frames without a handler in command_table.COMMANDS: {missing}"


def test_every_listed_type_parses_to_a_frame_the_dispatch_serves():
    for frame_class in ct.COMMANDS:
        fields = {k: v for k, v in MINIMAL.items() if k in frame_class.model_fields}
        for name in ct.type_names(frame_class):
            command = p.parse(json.dumps({"type": name, **fields}))
            assert type(command) is frame_class and callable(ct.COMMANDS[frame_class]), name
    assert [n for f in ct.COMMANDS for n in ct.type_names(f)] == list(ct.COMMAND_TYPES)


def test_the_types_list_is_the_unions_discriminator_values():
    mapping = p.json_schema()["properties"]["client_command"]["discriminator"]["mapping"]
    assert sorted(mapping) == sorted(ct.COMMAND_TYPES)
    assert len(set(ct.COMMAND_TYPES)) == len(ct.COMMAND_TYPES)


def test_frame_attachments_become_domain_attachments_one_way():
    frames = [c.AttachmentIn(url="/media/a.png", kind="image", name="a.png", size=3),
              c.AttachmentIn(url="/media/b.bin")]
    assert attachments_of(frames) == [Attachment("/media/a.png", MessageKind.IMAGE, "a.png", 3),
                                      Attachment("/media/b.bin", MessageKind.FILE, None, None)]
