"""The one table of client commands: which frame each handler serves.

The frame union that `protocol.parse` validates against, the list of command types, and the
endpoint's dispatch all derive from `COMMANDS`, so a command cannot be parsed without a
handler to run it (tests/unit/test_ws_command_table.py checks every frame is listed).
The order of `COMMANDS` is the order of the union in the JSON Schema.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Awaitable, Callable, Union

from pydantic import Field

from ..domain.chat.service import ChatService
from . import commands as c
from . import pipeline
from .connection import Connection
from .frames import Frame
from .handlers import conversations, messages, presence, stream

Handler = Callable[[ChatService, Connection, Any], Awaitable[None]]

COMMANDS: dict[type[Frame], Handler] = {
    c.Send: pipeline.send,
    c.OpenDirect: conversations.open_direct,
    c.ListConversations: conversations.conversations,
    c.GetConversation: conversations.conversation,
    c.History: messages.history,
    c.Mark: messages.mark,
    c.Typing: messages.typing,
    c.Resume: stream.resume,
    c.Ping: stream.ping,
    c.UpdateGroup: conversations.update_group,
    c.AddMembers: conversations.add_members,
    c.RemoveMembers: conversations.remove_members,
    c.Leave: conversations.leave,
    c.SetRole: conversations.set_role,
    c.Edit: messages.edit,
    c.Delete: messages.delete,
    c.React: messages.react,
    c.Search: messages.search,
    c.SetPresence: presence.presence,
    c.PresenceOf: presence.presence_of,
}


def type_names(frame: type[Frame]) -> tuple[str, ...]:
    """The `type` values a frame answers to (`Mark` answers to `read` and `delivered`)."""
    return typing.get_args(frame.model_fields["type"].annotation)


Command = Annotated[Union[tuple(COMMANDS)], Field(discriminator="type")]  # type: ignore[valid-type]
COMMAND_TYPES: tuple[str, ...] = tuple(name for frame in COMMANDS for name in type_names(frame))


def run(chat: ChatService, conn: Connection, command: Frame) -> Awaitable[None]:
    """The handler's work for a parsed command (every parsed command has one)."""
    return COMMANDS[type(command)](chat, conn, command)
