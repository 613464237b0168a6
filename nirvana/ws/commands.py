"""What each client command does: typed command in, domain call, events queued out.

Every command is answered exactly once with an `ack` (or `resumed`/`resync_required`/`pong`)
or an `error` carrying its id; the endpoint maps exceptions with `nirvana/ws/errors.py`.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from ..domain.chat.service import ChatService as Chat
from ..domain.chat.entities import Attachment, MessageKind, ReceiptKind
from . import protocol as p
from .commands_chat import HANDLERS as CHAT_HANDLERS
from .hub import Connection
from .views import conversation_out, message_out, stream_event

Handler = Callable[[Chat, Connection, Any], Awaitable[None]]


async def send(chat: Chat, conn: Connection, cmd: p.Send) -> None:
    message, created = await chat.send_message(
        conn.user_id, cmd.conversation_id, client_id=cmd.client_id, text=cmd.text,
        kind=MessageKind(cmd.kind), reply_to=cmd.reply_to,
        attachments=[Attachment(a.url, MessageKind(a.kind), a.name, a.size)
                     for a in cmd.attachments])
    conn.push(p.encode(p.Ack(id=cmd.id, message=message_out(message),
                             duplicate=not created)))


async def open_direct(chat: Chat, conn: Connection, cmd: p.OpenDirect) -> None:
    conversation = await chat.open_direct(conn.user_id, cmd.user_id)
    conn.push(p.encode(p.Ack(id=cmd.id,
                             conversation=conversation_out(conversation, conn.user_id))))


async def conversations(chat: Chat, conn: Connection, cmd: p.ListConversations) -> None:
    found = await chat.conversations(conn.user_id)
    conn.push(p.encode(p.Ack(id=cmd.id, conversations=[conversation_out(c, conn.user_id)
                                                       for c in found])))


async def history(chat: Chat, conn: Connection, cmd: p.History) -> None:
    messages = await chat.history(conn.user_id, cmd.conversation_id, before=cmd.before,
                                  after=cmd.after, limit=cmd.limit)
    conn.push(p.encode(p.Ack(id=cmd.id, messages=[message_out(m) for m in messages])))


async def mark(chat: Chat, conn: Connection, cmd: p.Mark) -> None:
    conversation = await chat.mark(conn.user_id, cmd.conversation_id,
                                   ReceiptKind(cmd.type), cmd.seq)
    conn.push(p.encode(p.Ack(id=cmd.id,
                             conversation=conversation_out(conversation, conn.user_id))))


async def typing(chat: Chat, conn: Connection, cmd: p.Typing) -> None:
    await chat.typing(conn.user_id, cmd.conversation_id, cmd.active)
    conn.push(p.encode(p.Ack(id=cmd.id)))


async def resume(chat: Chat, conn: Connection, cmd: p.Resume) -> None:
    await replay(chat, conn, cmd.since, cmd.id)


async def replay(chat: Chat, conn: Connection, since: int, request_id: str | None) -> None:
    """Replay the stored durable events after `since`, then `resumed` (or `resync_required`).

    Live durable events are held while stored ones are replayed, then released past the
    last replayed position: in order, each position once. Events that already went out live
    (the client resumed after some arrived) are not sent twice.
    """
    conn.begin_resume()
    replayed_to = since
    try:
        page = await chat.resume(conn.user_id, since)
        if page.truncated:
            replayed_to = page.head
            why = ("since is past the server's head (its store lost or restored writes)"
                   if page.ahead else
                   f"more than {chat.limits.resume_window} events were missed, or events "
                   f"older than the resume window were pruned")
            conn.push(p.encode(p.ResyncRequired(
                id=request_id, head=page.head,
                reason=f"{why}; refetch conversations and history over HTTP, then continue "
                       f"from head")))
            return
        for item in page.items:
            if conn.already_live(item.pos):
                continue
            if not await conn.push_paced(p.encode(stream_event(item))):
                return  # closed (slow consumer); the client resumes from what it got
            replayed_to = item.pos
        replayed_to = max(replayed_to, page.head)
        conn.push(p.encode(p.Resumed(id=request_id, head=replayed_to)))
    finally:
        conn.end_resume(replayed_to)


async def ping(chat: Chat, conn: Connection, cmd: p.Ping) -> None:
    conn.push(p.encode(p.Pong(id=cmd.id)))


HANDLERS: dict[str, Handler] = {
    "send": send, "open_direct": open_direct, "conversations": conversations,
    "history": history, "read": mark, "delivered": mark, "typing": typing,
    "resume": resume, "ping": ping,
}
HANDLERS.update(CHAT_HANDLERS)  # groups, edits, reactions, search, presence

__all__ = ["HANDLERS"]
