"""Pipelined sends on one connection.

Commands of a connection are still taken in order: a `send` is validated, checked and queued
to the store's writer before the next command is looked at, so seqs follow command order.
But the next command does not wait for that send's durable write: its ack (or error) is
pushed when the write resolves, so one socket is no longer limited to one send per commit
round trip. Acks may therefore interleave with later answers and events (docs/protocol.md).

At most `Limits.inflight_sends` sends per connection are in flight (`Connection.send_slots`);
the reader waits for a slot beyond that, which stops reading the socket (TCP backpressure):
a client cannot queue unbounded work.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from ..domain.chat.entities import Message, MessageKind
from ..domain.chat.service import ChatService
from .attachments import attachments_of
from .commands import Send
from .connection import Connection
from .errors import error_frame
from .events import encode
from .message_frames import send_ack_frame

log = logging.getLogger("nirvana.ws")
# A frame's kind (validated: one of these) → the domain's: a dict lookup instead of a
# call of the enum (a tenth of its cost) on every send.
_KINDS = {kind.value: kind for kind in MessageKind}


def _answer_error(conn: Connection, request_id: str, exc: BaseException) -> None:
    frame, close = error_frame(exc, request_id)
    conn.push(encode(frame))
    if close is not None:
        conn.request_close(*close)


async def send(chat: ChatService, conn: Connection, cmd: Send) -> None:
    """Returns once the send is queued (or refused); its answer follows later."""
    await conn.send_slots.acquire()
    try:
        stored = await chat.submit_message(
            conn.user_id, cmd.conversation_id, client_id=cmd.client_id, text=cmd.text,
            kind=_KINDS[cmd.kind], reply_to=cmd.reply_to,
            attachments=attachments_of(cmd.attachments))
    except Exception as exc:
        conn.send_slots.release()
        _answer_error(conn, cmd.id, exc)
        return
    # Answered by a callback on the domain's answer, not by one more task awaiting it
    # (docs/performance.md, "Answering sends").
    # Never cancelled with the socket: the store bounds how long the answer can take.
    stored.add_done_callback(partial(_answer, conn, cmd))


def _answer(conn: Connection, cmd: Send, stored: asyncio.Future[tuple[Message, bool]]) -> None:
    conn.send_slots.release()
    try:
        message, created = stored.result()
    except (Exception, asyncio.CancelledError) as exc:
        _answer_error(conn, cmd.id, exc)
    else:
        conn.push(send_ack_frame(cmd.id, message, not created))
