"""Pipelined sends on one connection.

Commands of a connection are still taken in order: a `send` is validated, checked and queued
to the store's writer before the next command is looked at, so seqs follow command order.
But the next command does not wait for that send's durable write: its ack (or error) is
pushed when the write resolves, so one socket is no longer limited to one send per commit
round trip. Acks may therefore interleave with later answers and events (docs/protocol.md).

At most `limit` sends per connection are in flight; the reader waits for a slot beyond that,
which stops reading the socket (TCP backpressure): a client cannot queue unbounded work.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from ..domain.chat.service import ChatService as Chat
from ..domain.chat.entities import Attachment, Message, MessageKind
from . import protocol as p
from .errors import error_frame
from .hub import Connection
from .views import message_out

log = logging.getLogger("nirvana.ws")


def _answer_error(conn: Connection, request_id: str, exc: BaseException) -> None:
    frame, close = error_frame(exc, request_id)
    conn.push(p.encode(frame))
    if close is not None:
        conn.request_close(*close)


class SendPipeline:
    def __init__(self, chat: Chat, conn: Connection, limit: int) -> None:
        self._chat = chat
        self._conn = conn
        self._slots = asyncio.Semaphore(limit)

    async def send(self, cmd: p.Send) -> None:
        """Returns once the send is queued (or refused); its answer follows later."""
        await self._slots.acquire()
        try:
            stored = await self._chat.submit_message(
                self._conn.user_id, cmd.conversation_id, client_id=cmd.client_id,
                text=cmd.text, kind=MessageKind(cmd.kind), reply_to=cmd.reply_to,
                attachments=[Attachment(a.url, MessageKind(a.kind), a.name, a.size)
                             for a in cmd.attachments])
        except Exception as exc:
            self._slots.release()
            _answer_error(self._conn, cmd.id, exc)
            return
        # Answered by a callback on the future, not by a task awaiting it: a task per send
        # was the costliest part of answering (~3 µs of ~10; see MongoChatStore.submit).
        # Never cancelled with the socket: the store bounds how long the answer can take.
        stored.add_done_callback(partial(self._answer, cmd))

    def _answer(self, cmd: p.Send, stored: asyncio.Future[tuple[Message, bool]]) -> None:
        self._slots.release()
        try:
            message, created = stored.result()
        except (Exception, asyncio.CancelledError) as exc:
            _answer_error(self._conn, cmd.id, exc)
        else:
            self._conn.push(p.encode(p.Ack(id=cmd.id, message=message_out(message),
                                           duplicate=not created)))
