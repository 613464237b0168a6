"""Handlers of the group, edit, reaction, search and presence commands (frames_chat.py).

Same contract as commands.py: each command is answered once, by an ack here or by an error
frame from the endpoint's error table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable

from ..domain.chat.groups import GROUP_FIELDS
from ..domain.chat.entities import Role
from ..domain.chat.service import ChatService
from ..domain.presence import PresenceState
from . import frames_chat as fc
from . import protocol as p
from .views import conversation_out, message_out

if TYPE_CHECKING:
    from .hub import Connection

Handler = Callable[[ChatService, "Connection", Any], Awaitable[None]]


def _ack_conversation(conn: Connection, request_id: str, conversation) -> None:
    conn.push(p.encode(p.Ack(id=request_id,
                             conversation=conversation_out(conversation, conn.user_id))))


def _ack_message(conn: Connection, request_id: str, message) -> None:
    conn.push(p.encode(p.Ack(id=request_id, message=message_out(message))))


async def update_group(chat: ChatService, conn: Connection, cmd: fc.UpdateGroup) -> None:
    # Only the fields sent change; an explicit null clears description or avatar_url.
    changes = {k: getattr(cmd, k) for k in GROUP_FIELDS if k in cmd.model_fields_set}
    _ack_conversation(conn, cmd.id, await chat.update_group(conn.user_id,
                                                            cmd.conversation_id, changes))


async def add_members(chat: ChatService, conn: Connection, cmd: fc.AddMembers) -> None:
    _ack_conversation(conn, cmd.id, await chat.add_members(conn.user_id, cmd.conversation_id,
                                                           cmd.user_ids))


async def remove_members(chat: ChatService, conn: Connection, cmd: fc.RemoveMembers) -> None:
    _ack_conversation(conn, cmd.id, await chat.remove_members(
        conn.user_id, cmd.conversation_id, cmd.user_ids))


async def leave(chat: ChatService, conn: Connection, cmd: fc.Leave) -> None:
    await chat.leave_group(conn.user_id, cmd.conversation_id)
    conn.push(p.encode(p.Ack(id=cmd.id)))


async def set_role(chat: ChatService, conn: Connection, cmd: fc.SetRole) -> None:
    _ack_conversation(conn, cmd.id, await chat.set_role(conn.user_id, cmd.conversation_id,
                                                        cmd.user_id, Role(cmd.role)))


async def edit(chat: ChatService, conn: Connection, cmd: fc.Edit) -> None:
    _ack_message(conn, cmd.id, await chat.edit_message(conn.user_id, cmd.conversation_id,
                                                       cmd.seq, cmd.text))


async def delete(chat: ChatService, conn: Connection, cmd: fc.Delete) -> None:
    _ack_message(conn, cmd.id, await chat.delete_message(
        conn.user_id, cmd.conversation_id, cmd.seq, for_everyone=cmd.scope == "everyone"))


async def react(chat: ChatService, conn: Connection, cmd: fc.React) -> None:
    _ack_message(conn, cmd.id, await chat.react(conn.user_id, cmd.conversation_id, cmd.seq,
                                                cmd.emoji, cmd.add))


async def search(chat: ChatService, conn: Connection, cmd: fc.Search) -> None:
    found = await chat.search(conn.user_id, cmd.q, conversation_id=cmd.conversation_id,
                              limit=cmd.limit)
    conn.push(p.encode(p.Ack(id=cmd.id, messages=[message_out(m) for m in found])))


async def presence(chat: ChatService, conn: Connection, cmd: fc.SetPresence) -> None:
    fanout = conn.hub_presence
    if fanout is not None:
        await fanout.set_state(conn.user_id, PresenceState(cmd.state))
    conn.push(p.encode(p.Ack(id=cmd.id)))


async def presence_of(chat: ChatService, conn: Connection, cmd: fc.PresenceOf) -> None:
    fanout = conn.hub_presence
    states = await fanout.query(conn.user_id, cmd.user_ids) if fanout is not None else []
    conn.push(p.encode(p.Ack(id=cmd.id, presence=states)))


HANDLERS: dict[str, Handler] = {
    "update_group": update_group, "add_members": add_members,
    "remove_members": remove_members, "leave": leave, "set_role": set_role, "edit": edit,
    "delete": delete, "react": react, "search": search, "presence": presence,
    "presence_of": presence_of,
}
