"""Conversations: open a direct one, list them or read one, and manage a group's name and
members."""

from __future__ import annotations

from ...domain.chat.groups import GROUP_FIELDS
from ...domain.chat.entities import Conversation, Role
from ...domain.chat.listing import decode_cursor, encode_cursor
from ...domain.chat.service import ChatService
from .. import commands as c
from ..connection import Connection
from ..events import Ack, encode
from ..views import conversation_out


def _ack_conversation(conn: Connection, request_id: str, conversation: Conversation) -> None:
    conn.push(encode(Ack(id=request_id, conversation=conversation_out(conversation,
                                                                      conn.user_id))))


async def open_direct(chat: ChatService, conn: Connection, cmd: c.OpenDirect) -> None:
    _ack_conversation(conn, cmd.id, await chat.open_direct(conn.user_id, cmd.user_id))


async def conversations(chat: ChatService, conn: Connection, cmd: c.ListConversations) -> None:
    page = await chat.conversations(conn.user_id,
                                    decode_cursor(cmd.cursor) if cmd.cursor else None, cmd.limit)
    conn.push(encode(Ack(id=cmd.id, conversations=[conversation_out(x, conn.user_id)
                                                   for x in page.items],
                         next_cursor=encode_cursor(page.next) if page.next else None)))


async def conversation(chat: ChatService, conn: Connection, cmd: c.GetConversation) -> None:
    _ack_conversation(conn, cmd.id, await chat.conversation(conn.user_id, cmd.conversation_id))


async def update_group(chat: ChatService, conn: Connection, cmd: c.UpdateGroup) -> None:
    # Only the fields sent change; an explicit null clears description or avatar_url.
    changes = {k: getattr(cmd, k) for k in GROUP_FIELDS if k in cmd.model_fields_set}
    _ack_conversation(conn, cmd.id, await chat.update_group(conn.user_id,
                                                            cmd.conversation_id, changes))


async def add_members(chat: ChatService, conn: Connection, cmd: c.AddMembers) -> None:
    _ack_conversation(conn, cmd.id, await chat.add_members(conn.user_id, cmd.conversation_id,
                                                           cmd.user_ids))


async def remove_members(chat: ChatService, conn: Connection, cmd: c.RemoveMembers) -> None:
    _ack_conversation(conn, cmd.id, await chat.remove_members(
        conn.user_id, cmd.conversation_id, cmd.user_ids))


async def leave(chat: ChatService, conn: Connection, cmd: c.Leave) -> None:
    await chat.leave_group(conn.user_id, cmd.conversation_id)
    conn.push(encode(Ack(id=cmd.id)))


async def set_role(chat: ChatService, conn: Connection, cmd: c.SetRole) -> None:
    _ack_conversation(conn, cmd.id, await chat.set_role(conn.user_id, cmd.conversation_id,
                                                        cmd.user_id, Role(cmd.role)))
