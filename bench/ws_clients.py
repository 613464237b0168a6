"""The load generator's clients: a lean WebSocket on the `websockets` sans-I/O protocol, the
adapter of the fan-out ceiling server, the adapter of Nirvana's /ws (docs/protocol.md), and
idle connections held open. `ws_load.Load` drives any of the adapters.
Every loop is bounded in count and time; only 127.0.0.1 is a target.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from .ws_load import PADDING

# -- the fan-out ceiling's adapter --------------------------------------------------------------


class LeanWebSocket(asyncio.Protocol):
    """A WebSocket client on the `websockets` sans-I/O protocol and a bare asyncio.Protocol:
    text frames go straight to a callback, sends go straight to the transport. The asyncio
    client's per-message queue and wake-ups cost the one load-generator core more than the
    server under test spends per delivery, which would cap what can be offered."""

    def __init__(self, uri: str, on_text: Callable[[str], None]) -> None:
        from websockets.client import ClientProtocol
        from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
        from websockets.protocol import State
        from websockets.uri import parse_uri

        # Offers permessage-deflate, as browsers do; the servers measured decline it.
        self.ws = ClientProtocol(parse_uri(uri), max_size=64 * 1024,
                                 extensions=[ClientPerMessageDeflateFactory()])
        self._open = State.OPEN  # looked up once: `is_open` runs per message received
        self.on_text = on_text
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    @classmethod
    async def connect(cls, uri: str, on_text: Callable[[str], None],
                      timeout: float = 30) -> "LeanWebSocket":
        host, port = uri.split("//", 1)[1].split("/", 1)[0].split(":")
        if not host.startswith("127."):
            raise ValueError(f"refusing {uri}: only loopback is a target")
        loop = asyncio.get_running_loop()
        _, proto = await loop.create_connection(lambda: cls(uri, on_text), host, int(port))
        await asyncio.wait_for(proto.opened, timeout)
        return proto

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.ws.send_request(self.ws.connect())
        self._flush()

    def data_received(self, data: bytes) -> None:
        from websockets.frames import Frame, Opcode

        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Frame):
                if event.opcode is Opcode.TEXT:
                    self.on_text(event.data.decode())
            elif not self.opened.done():  # the handshake response
                if self.ws.handshake_exc is not None:
                    self.opened.set_exception(self.ws.handshake_exc)
                else:
                    self.opened.set_result(None)
        self._flush()  # pongs and close frames the protocol queued

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(None)

    def _flush(self) -> None:
        assert self.transport is not None
        for data in self.ws.data_to_send():
            if data:
                self.transport.write(data)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def is_open(self) -> bool:
        return self.ws.state is self._open

    def send_text(self, text: str) -> None:
        self.ws.send_text(text.encode())
        self._flush()

    async def close(self, timeout: float = 5) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        self.ws.send_close(1000)
        self._flush()
        try:
            await asyncio.wait_for(asyncio.shield(self.closed), timeout)
        except asyncio.TimeoutError:
            self.transport.abort()


class FanoutConnection:
    def __init__(self, ws: LeanWebSocket) -> None:
        self.ws = ws

    def send(self, key: str) -> None:
        self.ws.send_text(f"{key}|{PADDING}")

    async def close(self) -> None:
        await self.ws.close()


class FanoutAdapter:
    """bench.ceilings.fanout: join room n by path /room/<n>; every member gets every frame."""

    def __init__(self, url: str, room_size: int = 10) -> None:
        self.ws_url = url.replace("http://", "ws://", 1)
        self.room_size = room_size

    async def connect(self, client: int, deliver: Callable[[str], None]) -> FanoutConnection:
        ws = await LeanWebSocket.connect(
            f"{self.ws_url}/room/{client // self.room_size}",
            lambda text: deliver(text.split("|", 1)[0]))
        return FanoutConnection(ws)

    def recipients(self, sender: int) -> int:
        return self.room_size


# -- Nirvana's /ws adapter (docs/protocol.md) ----------------------------------------------------


class RetryLater(ConnectionError):
    """The server closed with 1013: overloaded or a store is down; reconnect later."""


@dataclass
class ChatUser:
    id: int
    token: str
    refresh_token: str = ""
    issued: float = field(default_factory=time.monotonic)  # when `token` was issued


class NirvanaConnection:
    """One client's socket to /ws: `send` commands out, `newMessage` events in. Every other
    frame type (acks, receipts, conversation.updated, presence, typing, frames added to the
    protocol later) is counted by type and otherwise ignored. With the adapter's `receipts`,
    it answers each `newMessage` of someone else's with `delivered` for its seq, as the web
    client does for a conversation not open (docs/protocol.md, *Receipts*)."""

    def __init__(self, adapter: "NirvanaAdapter", conversation_id: str,
                 deliver: Callable[[str], None], user_id: int = 0) -> None:
        self.adapter = adapter
        self.conversation_id = conversation_id
        self.user_id = user_id
        self.deliver = deliver
        self.ws: LeanWebSocket | None = None
        self.hello: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.last_pos = 0
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.marked: dict[str, float] = {}  # a `delivered` command's id: when it was sent

    def on_text(self, text: str) -> None:
        frame = json.loads(text)
        kind = frame.get("type")
        stats = self.adapter.frames
        stats[kind] += 1
        pos = frame.get("pos")
        if isinstance(pos, int) and pos > self.last_pos:
            self.last_pos = pos
        if kind == "newMessage":
            message = frame.get("message", {})
            client_id = message.get("client_id") or ""
            nonce, _, key = client_id.partition("|")
            if nonce == self.adapter.nonce:
                self.deliver(key)
            if (self.adapter.receipts and message.get("sender_id") != self.user_id
                    and self.ws is not None and self.ws.is_open()):  # not while closing
                self.adapter.receipts_sent += 1
                # Seqs count per conversation: the id names both, so that a member of two
                # conversations pairs each answer with its own mark (ids are 1-64 chars).
                mark = f"d{message.get('conversation_id')}:{message.get('seq')}"
                self.marked[mark] = time.perf_counter()
                self.command({"type": "delivered", "id": mark,
                              "conversation_id": message.get("conversation_id"),
                              "seq": message.get("seq")})
        elif kind == "hello":
            self.last_pos = max(self.last_pos, int(frame.get("head") or 0))
            if not self.hello.done():
                self.hello.set_result(frame)
        elif kind == "error":
            self.adapter.errors[str(frame.get("code"))] += 1
        if kind in ("ack", "error") and self.marked:
            sent = self.marked.pop(frame.get("id") or "", None)
            if sent is not None:  # a mark's answer: how long the server took to store it
                self.adapter.mark_answers.append(time.perf_counter() - sent)
        waiter = self.waiting.pop(frame.get("id") or "", None) if kind in (
            "resumed", "resync_required", "error", "pong") else None
        if waiter is not None and not waiter.done():
            waiter.set_result(frame)

    def command(self, frame: dict[str, Any]) -> None:
        assert self.ws is not None
        self.ws.send_text(json.dumps(frame, separators=(",", ":")))

    def send(self, key: str) -> None:
        self.command({"type": "send", "id": key, "conversation_id": self.conversation_id,
                      "client_id": f"{self.adapter.nonce}|{key}", "text": PADDING})

    async def request(self, frame: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        """Send a command and wait for its resumed/resync_required/error/pong answer."""
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[frame["id"]] = waiter
        self.command(frame)
        return await asyncio.wait_for(waiter, timeout)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def room_size(text: str) -> int:
    """A `--room-size` option: the members of a group conversation, 2 to 256 (the limit,
    docs/protocol.md, *Groups*)."""
    size = int(text)
    if not 2 <= size <= 256:
        raise argparse.ArgumentTypeError("a group has 2 to 256 members")
    return size


def clients_in_rooms(parser: argparse.ArgumentParser, clients: int, size: int) -> int:
    """`--clients` less those beyond the last full group of `--room-size`; refused when
    that leaves no group (the load generator would pick a sender among none)."""
    if clients < size:
        parser.error(f"--clients {clients} fills no group of --room-size {size}")
    return clients - clients % size


class NirvanaAdapter:
    """Users signed up over HTTP, made friends with their group's creator, put in group
    conversations of `room_size` (POST /api/v1/conversations), then each connected to
    /ws?token=… . A send reaches every member, the sender's own socket included (its other
    devices would need it), so one send is `room_size` deliveries."""

    def __init__(self, url: str, room_size: int = 10, nonce: str | None = None,
                 receipts: bool = False) -> None:
        self.url = url
        self.receipts = receipts  # answer others' messages with `delivered` (NirvanaConnection)
        self.receipts_sent = 0
        self.mark_answers: list[float] = []  # s from a `delivered` sent to its answer
        self.ws_url = url.replace("http://", "ws://", 1)
        self.room_size = room_size
        self.nonce = nonce or f"{random.getrandbits(40):010x}"
        self.users: list[ChatUser] = []
        self.conversations: list[str] = []  # per room
        self.frames: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.retried = 0  # connects refused with 1013 and retried

    async def ensure_users(self, count: int, sign_up: Callable[..., Any],
                           concurrency: int = 8) -> None:
        """Have at least `count` users: sign up the missing ones (or sign in, when an
        earlier run made them). `sign_up(url, email, source)` returns (user id, access
        token, refresh token)."""
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> ChatUser:
            async with gate:
                # Spread over loopback sources: sign-in is limited per IP.
                source = f"127.{60 + i // 60000}.{(i // 250) % 240}.{1 + i % 250}"
                user_id, token, refresh = await sign_up(self.url, f"bench-chat-{i}@example.com",
                                                        source)
                return ChatUser(user_id, token, refresh)

        self.users += await asyncio.gather(*(one(i) for i in range(len(self.users), count)))

    async def renew_tokens(self, older_than: float, http: Callable[..., Any],
                           concurrency: int = 8) -> int:
        """Rotate the refresh token of every user whose access token is older than
        `older_than` seconds into a new session: access tokens live 15 minutes, and a whole
        chat run takes longer. Returns how many were renewed."""
        gate = asyncio.Semaphore(concurrency)
        now = time.monotonic()
        stale = [u for u in self.users if now - u.issued > older_than]

        async def one(user: ChatUser) -> None:
            async with gate:
                status, answer = await http(
                    self.url, "POST", "/api/v1/user/refresh",
                    json.dumps({"refresh_token": user.refresh_token}).encode(),
                    {"Content-Type": "application/json"})
            if status != 200:
                raise RuntimeError(f"refresh of user {user.id} answered {status}: "
                                   f"{answer[:200]!r}")
            session = json.loads(answer)
            user.token, user.refresh_token = session["jwt"], session["refresh_token"]
            user.issued = time.monotonic()

        await asyncio.gather(*(one(u) for u in stale))
        return len(stale)

    async def build_rooms(self, clients: int, http: Callable[..., Any],
                          concurrency: int = 8) -> None:
        """Group conversations of `room_size` over the first `clients` users: each room's
        first member befriends the others (only friends can be added), then creates it.
        `http(url, method, path, body, headers)` returns (status, body)."""
        gate = asyncio.Semaphore(concurrency)
        rooms = [self.users[r:r + self.room_size]
                 for r in range(0, clients - clients % self.room_size, self.room_size)]

        async def call(user: ChatUser, method: str, path: str, body: Any = None) -> Any:
            async with gate:
                status, answer = await http(
                    self.url, method, path, json.dumps(body).encode() if body is not None
                    else b"", {"Authorization": f"Bearer {user.token}",
                               "Content-Type": "application/json"})
            if status >= 400 and status != 409:  # 409: already friends from an earlier run
                raise RuntimeError(f"{method} {path} answered {status}: {answer[:200]!r}")
            return json.loads(answer) if answer else None

        async def room(members: list[ChatUser], number: int) -> str:
            owner, others = members[0], members[1:]
            for other in others:
                await call(owner, "POST", f"/api/v1/friends/requests/{other.id}")
                await call(other, "POST", f"/api/v1/friends/requests/{owner.id}/accept")
            made = await call(owner, "POST", "/api/v1/conversations",
                              {"kind": "group", "name": f"bench {self.nonce} {number}",
                               "member_ids": [o.id for o in others]})
            return made["id"]

        self.conversations = list(await asyncio.gather(
            *(room(m, n) for n, m in enumerate(rooms))))

    async def connect(self, client: int, deliver: Callable[[str], None],
                      timeout: float = 30, retries: int = 10) -> NirvanaConnection:
        """As docs/protocol.md asks of a client, a 1013 (overloaded, try again later) is
        retried after a growing pause; the retries are counted in `self.retried`."""
        for attempt in range(retries + 1):
            try:
                return await self._connect_once(client, deliver, timeout)
            except RetryLater:
                if attempt == retries:
                    raise
                self.retried += 1
                await asyncio.sleep(min(0.2 * 2 ** attempt, 5.0))
        raise AssertionError("unreachable")

    async def _connect_once(self, client: int, deliver: Callable[[str], None],
                            timeout: float) -> NirvanaConnection:
        user = self.users[client]
        conn = NirvanaConnection(self, self.conversations[client // self.room_size], deliver,
                                 user.id)
        conn.ws = await LeanWebSocket.connect(f"{self.ws_url}/ws?token={user.token}",
                                              conn.on_text, timeout)
        # A socket closed before its hello (e.g. 4029, too many sockets) fails now, saying
        # why, instead of timing out.
        done, _ = await asyncio.wait([conn.hello, conn.ws.closed], timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        if not conn.hello.done():
            rcvd = conn.ws.ws.close_rcvd
            if rcvd is not None and rcvd.code == 1013:
                raise RetryLater(f"client {client}: 1013 {rcvd.reason}")
            raise ConnectionError(
                f"client {client}: /ws closed before hello: "
                + (f"{rcvd.code} {rcvd.reason}" if rcvd else "no close frame")
                if done else f"client {client}: no hello within {timeout:g} s")
        return conn

    def recipients(self, sender: int) -> int:
        return self.room_size


# -- idle connections ----------------------------------------------------------------------------


async def hold_idle(url: str, count: int, *, concurrency: int = 200,
                    ping_timeout: float = 20, open_timeout: float = 300,
                    measure_rss=None,
                    path_for: Callable[[int], str] = lambda i: f"/room/idle{i}",
                    ) -> dict[str, Any]:
    """Open `count` idle WebSockets to `url` + `path_for(i)` (default /room/idle<i>), ping
    every one, close them all. Each offers permessage-deflate, as every browser does: what
    a socket costs the server includes what the server makes of that offer. `measure_rss()`
    (the server's RSS) is called before opening and once all are open."""
    from websockets.asyncio.client import connect

    ws_url = url.replace("http://", "ws://", 1)
    rss_before = measure_rss() if measure_rss else None
    gate = asyncio.Semaphore(concurrency)
    opened: list[Any] = []
    failures: dict[str, int] = {}
    started = time.perf_counter()
    deadline = started + open_timeout

    async def one(i: int) -> None:
        async with gate:
            if time.perf_counter() > deadline:
                failures["open deadline passed"] = failures.get("open deadline passed", 0) + 1
                return
            try:
                opened.append(await connect(f"{ws_url}{path_for(i)}", compression="deflate",
                                            ping_interval=None, open_timeout=30))
            except Exception as exc:  # counted and reported by type, the run goes on
                name = type(exc).__name__
                failures[name] = failures.get(name, 0) + 1

    await asyncio.gather(*(one(i) for i in range(count)))
    open_seconds = time.perf_counter() - started
    await asyncio.sleep(1.0)  # let the server settle its buffers
    rss_after = measure_rss() if measure_rss else None

    async def ping(ws: Any) -> bool:
        try:
            waiter = await ws.ping()
            await asyncio.wait_for(waiter, ping_timeout)
            return True
        except Exception:
            return False

    answered = sum(await asyncio.gather(*(ping(ws) for ws in opened)))
    await asyncio.gather(*(ws.close() for ws in opened), return_exceptions=True)
    per_conn = ((rss_after - rss_before) / len(opened)
                if opened and rss_before is not None and rss_after is not None else None)
    return {"requested": count, "opened": len(opened), "answered": answered,
            "answered_pct": 100 * answered / count if count else 0.0,
            "open_seconds": open_seconds, "failures": failures,
            "rss_before": rss_before, "rss_after": rss_after,
            "bytes_per_connection": per_conn}
