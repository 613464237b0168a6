"""The Starlette WebSocket endpoint at /ws: drives the pure protocol with real I/O.

Two tasks per socket: this one reads frames and runs commands in order; a sender drains
the connection's bounded queue into the socket (and sends the requested close). The app's
one `SessionWatch` closes the socket when its token expires or its session is revoked. Each
command runs its handler from `command_table.py`; sends are pipelined (`pipeline.py`):
queued in order, answered when their durable write resolves.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..domain.errors import AuthenticationError, DomainError, UnavailableError
from ..domain.errors import WriterUnreachableError
from ..domain.accounts.ports import AccessClaims
from ..domain.notifications.service import Notifications
from ..driver_errors import UNAVAILABLE_TYPES, classify
from ..http.errors import error_response
from . import events as ev
from . import protocol as p
from .close_codes import WRITER_UNREACHABLE_REASON, CloseCode
from .command_table import run
from .connection import Connection
from .errors import error_frame
from .frames import LimitsOut, ResumeWindowOut
from .handlers.stream import replay
from .transport import CLOSE_NOW, DIRECT_SEND, RECEIVE

log = logging.getLogger("nirvana.ws")
DENIAL_RESPONSE = "websocket.http.response"
CLOSE_SECONDS = 10.0  # how long a requested close may wait for a slow peer to read


def _authenticate(ws: WebSocket) -> AccessClaims:
    """Raises DomainError; the `?token=` parameter is for browsers, which cannot set headers
    on a WebSocket upgrade."""
    services = ws.app.state.services
    token = ws.query_params.get("token")
    if token:
        return services.accounts.authenticate(token)
    claims = services.authenticator(ws)  # Bearer header, or the cookie with Origin checked
    if claims is None:
        raise AuthenticationError("Send ?token=<jwt>, a Bearer header or the jwt cookie.")
    return claims


async def _refuse_upgrade(ws: WebSocket, exc: DomainError) -> None:
    """Refused before accept: HTTP 403 with the error in the one shape, where the server
    lets the app answer the upgrade (the ASGI `websocket.http.response` extension: uvicorn
    has it); elsewhere a close before accept, which the server sends as a bare 403."""
    if DENIAL_RESPONSE in ws.scope.get("extensions", {}):
        await ws.send_denial_response(error_response(403, exc.code, exc.message))
    else:
        await ws.close(CloseCode.FORBIDDEN_ORIGIN)


async def _sender(ws: WebSocket, conn: Connection) -> None:
    while (text := await conn.next()) is not None:
        conn.sending = True
        try:
            await ws.send_text(text)
        except RuntimeError:
            if conn.close_written:
                return  # close_now closed the socket while this frame waited for the peer
            raise
        finally:
            conn.sending = False
    if conn.close_written:
        return  # close_now wrote it already
    code, reason = conn.close_request or (CloseCode.NORMAL, "")
    await ws.close(code, reason)


async def _push_unread(notifications: Notifications, conn: Connection) -> None:
    # Notifications are not in the chat stream, so a resume cannot replay them: every socket
    # starts with the unread count instead, and a client whose list differs refetches it.
    try:
        unread = await notifications.unread_count(conn.user_id)
    except UNAVAILABLE_TYPES:
        log.warning("ws connect: unread notification count unavailable")
        return
    conn.push(ev.encode(ev.NotificationsUnread(unread=unread)))


async def chat_socket(ws: WebSocket) -> None:
    services = ws.app.state.services
    hub, chat, limits = services.hub, services.chat, services.ws_limits
    try:
        claims = _authenticate(ws)
    except DomainError as exc:
        if exc.code == "origin_not_allowed":
            await _refuse_upgrade(ws, exc)
            return
        await ws.accept()
        await ws.close(CloseCode.UNAUTHENTICATED, exc.code)
        return
    await ws.accept()
    await hub.settled()  # an instance's first moments: see Hub.settled
    if hub.stopping is not None:
        # An upgrade the listener took before the stop closed it: told as the open sockets
        # were, before it is registered (no hello, no presence flap to friends).
        await ws.close(*hub.stopping)
        return
    if hub.count(claims.user_id) >= limits.sockets_per_user:
        await ws.close(CloseCode.TOO_MANY_CONNECTIONS, "too many open sockets")
        return

    since = _since(ws)
    if since is False:
        await ws.close(CloseCode.POLICY_VIOLATION, "since must be a non-negative integer")
        return
    conn = Connection(claims.user_id, claims.session_id, limits.outgoing_queue,
                      limits.inflight_sends, max_bytes=limits.outgoing_queue_bytes,
                      max_user_bytes=limits.user_queue_bytes)
    protocol = p.ServerConnection(limits, time.monotonic)
    # Registered before `head` is read, with its durable events held: an event committed
    # after `head` reaches this socket (none falls between hello and registration), and one
    # at or below it is the client's to resume.
    conn.begin_resume()
    try:
        await hub.connected(conn)
        head = await chat.head()
    except (*UNAVAILABLE_TYPES, UnavailableError) as exc:  # also: no chat writer answers
        hub.disconnected(conn)
        reason = unavailable_reason(exc)
        log.warning("ws connect closed 1013: %s (%s)", reason, type(exc).__name__)
        await ws.close(CloseCode.TRY_AGAIN_LATER, reason)
        return
    except BaseException:
        # Any other failure (or a cancel at shutdown) must not leave the socket registered:
        # its user would stay online here and their offline would never be announced.
        hub.disconnected(conn)
        raise
    conn.start_live(head)
    conn.push_first(ev.encode(ev.Hello(  # before what hub.connected queued (getOnlineUsers)
        user_id=claims.user_id, heartbeat_seconds=limits.heartbeat_seconds,
        resume_window=ResumeWindowOut(max_events=chat.limits.resume_window,
                                           seconds=chat.limits.resume_window_seconds),
        head=head,
        limits=LimitsOut(max_frame_bytes=limits.max_frame_bytes,
                           commands_per_second=limits.commands_per_second,
                           command_burst=limits.command_burst, max_text=chat.limits.max_text,
                           max_attachments=chat.limits.max_attachments,
                           outgoing_queue=limits.outgoing_queue,
                           sockets_per_user=limits.sockets_per_user,
                           inflight_sends=limits.inflight_sends,
                           outgoing_queue_bytes=limits.outgoing_queue_bytes,
                           user_queue_bytes=limits.user_queue_bytes))))
    extensions = ws.scope.get("extensions") or {}
    conn.direct = extensions.get(DIRECT_SEND)  # after hello: in order
    conn.close_now = extensions.get(CLOSE_NOW)
    receive = extensions.get(RECEIVE) or ws.receive  # the protocol's own, under uvicorn
    await _push_unread(services.notifications, conn)
    if since is None:
        conn.end_resume(head)  # release what arrived meanwhile, past head
    sender = asyncio.create_task(_sender(ws, conn))
    services.session_watch.watch(conn, claims)
    peer_gone = False
    try:
        if since is not None:
            # Live events stay held (since registration) until the replay is done.
            await _guarded(conn, None, replay(chat, conn, since, None))
        while conn.close_request is None:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                peer_gone = True
                break
            text = message.get("text")
            result = protocol.receive(text) if text is not None else protocol.receive_binary()
            if protocol.close is not None:
                conn.push(ev.encode(result))
                conn.request_close(*protocol.close)
            elif isinstance(result, ev.Error):
                conn.push(ev.encode(result))
            else:
                await _guarded(conn, result.id, run(chat, conn, result))
        if not peer_gone and not conn.close_written:
            # The sender flushes what is queued, then sends the close.
            await asyncio.wait_for(sender, CLOSE_SECONDS)
    except (WebSocketDisconnect, RuntimeError, OSError, TimeoutError):
        pass  # the peer went away; nothing to answer
    finally:
        hub.disconnected(conn)
        services.session_watch.unwatch(conn)
        sender.cancel()  # a socket's tasks never outlive it


async def _guarded(conn: Connection, request_id: str | None, work) -> None:
    try:
        await work
    except Exception as exc:
        frame, close = error_frame(exc, request_id)
        conn.push(ev.encode(frame))
        if close is not None:
            conn.request_close(*close)


def unavailable_reason(exc: BaseException) -> str:
    """The 1013 close reason: what failed, as its error names it (a store down, or with
    several instances the chat writer not answering), so nobody looks in the wrong place.
    Cut at 123 bytes of UTF-8, the most a close frame carries, never inside a character."""
    if isinstance(exc, WriterUnreachableError):
        return WRITER_UNREACHABLE_REASON  # chosen by type, not wording: clients key on it
    said = exc.message if isinstance(exc, UnavailableError) else (
        f"{classify(exc)[1]} is unavailable")
    reason = f"{said.split(';')[0].rstrip('.')}; reconnect later"
    return reason.encode()[:123].decode(errors="ignore")


def _since(ws: WebSocket) -> int | None | bool:
    """`?since=<pos>`: resume on connect (False when malformed). Unlike the `resume`
    command, no live event can reach the client before the replay."""
    raw = ws.query_params.get("since")
    if raw is None:
        return None
    # isascii: str.isdigit() also holds for "٥" and "²", which int() reads or refuses.
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else False
