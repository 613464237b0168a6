"""Messages: history, receipts, typing, edits, deletes, reactions and search.

(`send` is pipelined, so it has its own module: `nirvana/ws/pipeline.py`.)
"""

from __future__ import annotations

from ...domain.chat.entities import Message, ReceiptKind
from ...domain.chat.service import ChatService
from .. import commands as c
from ..connection import Connection
from ..events import Ack, encode
from ..mark_frames import conversation_ack_frame
from ..views import message_out


def _ack_message(conn: Connection, request_id: str, message: Message) -> None:
    conn.push(encode(Ack(id=request_id, message=message_out(message))))


async def history(chat: ChatService, conn: Connection, cmd: c.History) -> None:
    messages = await chat.history(conn.user_id, cmd.conversation_id, before=cmd.before,
                                  after=cmd.after, limit=cmd.limit)
    conn.push(encode(Ack(id=cmd.id, messages=[message_out(m) for m in messages])))


async def mark(chat: ChatService, conn: Connection, cmd: c.Mark) -> None:
    conversation = await chat.mark(conn.user_id, cmd.conversation_id,
                                   ReceiptKind(cmd.type), cmd.seq)
    conn.push(conversation_ack_frame(cmd.id, conversation, conn.user_id))


async def typing(chat: ChatService, conn: Connection, cmd: c.Typing) -> None:
    await chat.typing(conn.user_id, cmd.conversation_id, cmd.active)
    conn.push(encode(Ack(id=cmd.id)))


async def edit(chat: ChatService, conn: Connection, cmd: c.Edit) -> None:
    _ack_message(conn, cmd.id, await chat.edit_message(conn.user_id, cmd.conversation_id,
                                                       cmd.seq, cmd.text))


async def delete(chat: ChatService, conn: Connection, cmd: c.Delete) -> None:
    _ack_message(conn, cmd.id, await chat.delete_message(
        conn.user_id, cmd.conversation_id, cmd.seq, for_everyone=cmd.scope == "everyone"))


async def react(chat: ChatService, conn: Connection, cmd: c.React) -> None:
    _ack_message(conn, cmd.id, await chat.react(conn.user_id, cmd.conversation_id, cmd.seq,
                                                cmd.emoji, cmd.add))


async def search(chat: ChatService, conn: Connection, cmd: c.Search) -> None:
    found = await chat.search(conn.user_id, cmd.q, conversation_id=cmd.conversation_id,
                              limit=cmd.limit)
    conn.push(encode(Ack(id=cmd.id, messages=[message_out(m) for m in found])))
