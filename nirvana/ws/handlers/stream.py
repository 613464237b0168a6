"""The event stream: resume from a position (replay), and ping."""

from __future__ import annotations

from ...domain.chat.service import ChatService
from .. import commands as c
from ..connection import Connection
from ..events import Pong, Resumed, ResyncRequired, encode
from ..views import stream_event


async def resume(chat: ChatService, conn: Connection, cmd: c.Resume) -> None:
    await replay(chat, conn, cmd.since, cmd.id)


async def replay(chat: ChatService, conn: Connection, since: int, request_id: str | None
                 ) -> None:
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
            conn.push(encode(ResyncRequired(
                id=request_id, head=page.head,
                reason=f"{why}; refetch conversations and history over HTTP, then continue "
                       f"from head")))
            return
        for item in page.items:
            if conn.already_live(item.pos):
                continue
            if not await conn.push_paced(encode(stream_event(item))):
                return  # closed (slow consumer); the client resumes from what it got
            replayed_to = item.pos
        replayed_to = max(replayed_to, page.head)
        conn.push(encode(Resumed(id=request_id, head=replayed_to)))
    finally:
        conn.end_resume(replayed_to)


async def ping(chat: ChatService, conn: Connection, cmd: c.Ping) -> None:
    conn.push(encode(Pong(id=cmd.id)))
