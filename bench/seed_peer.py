"""The seed stack's chat as a peer in `make bench` (issue 22): Express + Socket.IO 4 +
Mongoose 8 (`bench/peer/server.js`) on its own MongoDB-wire store started with exactly the
embedded store's flags, both pinned to the server core as Nirvana is, driven by the same
open-loop generator (`ws_load.Load`) with the same steps, drain and latency definition.

The generator speaks Socket.IO's wire protocol over a plain WebSocket (`LeanWebSocket`):
Engine.IO v4 frames are a digit and a payload (`0` open, `2`/`3` ping/pong, `4` message),
and a Socket.IO packet inside a message is a digit too (`0` connect, `2` event, `3` ack),
an optional ack id, and a JSON array. That is all a WebSocket-only client needs.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from websockets.exceptions import InvalidState

from .embedded import mongo_pid
from .servers import ROOT, SERVER_CORE, Server, affinity, pinning_available, tree_cpu_seconds
from .ws_clients import LeanWebSocket
from .ws_load import PADDING

PEER_DIR = ROOT / "bench" / "peer"


def ensure_node() -> str | None:
    """Node and the peer's pinned packages (package-lock.json, `npm ci`); None when ready,
    otherwise why the peer cannot run. Debian's nodejs/npm are installed when missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if shutil.which("apt-get") is None:
            return "node/npm are missing and apt-get is not available"
        print("bench: installing Debian's nodejs and npm", flush=True)
        proc = subprocess.run(["apt-get", "install", "-y", "-q", "nodejs", "npm"],
                              capture_output=True, text=True)
        if proc.returncode != 0 or shutil.which("node") is None or shutil.which("npm") is None:
            return f"installing nodejs/npm failed: {proc.stderr.strip()[-300:]}"
    lock = PEER_DIR / "package-lock.json"
    stamp = PEER_DIR / "node_modules" / ".package-lock.json"
    if not stamp.exists() or stamp.stat().st_mtime < lock.stat().st_mtime:
        print("bench: npm ci (the seed peer's pinned packages)", flush=True)
        proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                              cwd=PEER_DIR, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            return f"npm ci failed: {proc.stderr.strip()[-300:]}"
    return None


class SeedPeer(Server):
    """node server.js on a fresh MongoDB-wire store of its own (the embedded store's flags,
    `--sync-on-commit` included), both on the server core."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        super().__init__("seed-peer", ["node", str(PEER_DIR / "server.js")], log_dir)
        self.data_dir = data_dir
        self.store: Any = None

    def start(self, timeout: float = 120) -> str:
        from nirvana.storage.embedded import EmbeddedMongo

        self.store = EmbeddedMongo(self.data_dir / "mongo", durable=True)
        with affinity(SERVER_CORE if pinning_available() is None else None):
            url = self.store.start()
        self.env = {**os.environ, "MONGODB_URL": url, "PORT": "0"}
        try:
            return super().start(timeout)
        except BaseException:
            self.store.stop()
            raise

    def stop(self, timeout: float = 60) -> None:
        try:
            super().stop(timeout)
        finally:
            if self.store is not None:
                self.store.stop()
                self.store = None

    def cpu_breakdown(self) -> dict[str, float]:
        """CPU seconds so far of node and of its store (named as Nirvana's are)."""
        store_pid = mongo_pid(self.data_dir) if self.store is not None else None
        return {"server": self.cpu_seconds(),
                "mongo": tree_cpu_seconds([store_pid]) if store_pid else 0.0,
                "postgres": 0.0}


# -- the Socket.IO client (Engine.IO v4 over a plain WebSocket) ------------------------------------


class SocketIOConnection:
    """One client: joins its conversation's room, emits `sendMessage` with an ack, and hands
    the clientId of each `newMessage` to `deliver`."""

    def __init__(self, adapter: "SocketIOAdapter", conversation_id: str,
                 deliver: Callable[[str], None]) -> None:
        self.adapter = adapter
        self.conversation_id = conversation_id
        self.deliver = deliver
        self.ws: LeanWebSocket | None = None
        self.connected: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.ids = itertools.count()
        self.early: list[str] = []

    def on_text(self, text: str) -> None:
        kind = text[:1]
        if kind == "2":  # Engine.IO ping: answered at once, or the server drops us
            self._raw("3")
        elif kind == "0":  # Engine.IO open: join the default namespace
            self._raw("40")
        elif kind == "4":
            self._packet(text[1:])

    def _packet(self, packet: str) -> None:
        kind, rest = packet[:1], packet[1:]
        if kind == "0":
            if not self.connected.done():
                self.connected.set_result(None)
            return
        digits = len(rest) - len(rest.lstrip("0123456789"))
        ack_id, payload = rest[:digits], rest[digits:]
        if kind == "2":  # event
            name, *args = json.loads(payload)
            self.adapter.frames[name] += 1
            if name == "newMessage":
                client_id = args[0].get("clientId") or ""
                nonce, _, key = client_id.partition("|")
                if nonce == self.adapter.nonce:
                    self.deliver(key)
        elif kind == "3":  # ack
            self.adapter.frames["ack"] += 1
            answer = json.loads(payload)
            if answer and isinstance(answer[0], dict) and not answer[0].get("ok", True):
                self.adapter.errors[str(answer[0].get("error"))[:80]] += 1
            waiter = self.acks.pop(int(ack_id), None) if ack_id else None
            if waiter is not None and not waiter.done():
                waiter.set_result(answer)

    def _raw(self, text: str) -> None:
        if self.ws is None:  # the open frame can come with the handshake, before `ws` is set
            self.early.append(text)
            return
        try:
            self.ws.send_text(text)
        except InvalidState:
            # The overloaded peer is closing this socket (a ping answered too late): counted
            # with the errors, not a traceback per client.
            self.adapter.errors["socket closed by the peer"] += 1

    def emit(self, event: str, *args: Any, ack: bool = False) -> int | None:
        """Emit an event; with `ack`, the ack id it asks the server to answer."""
        ack_id = next(self.ids) if ack else None
        self._raw(f"42{'' if ack_id is None else ack_id}"
                  + json.dumps([event, *args], separators=(",", ":")))
        return ack_id

    async def request(self, event: str, *args: Any, timeout: float = 30) -> Any:
        """Emit an event with an ack and wait for the ack's arguments."""
        ack_id = self.emit(event, *args, ack=True)
        assert ack_id is not None
        # Registered after the write: the answer is read by this same loop, later.
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[ack_id] = waiter
        return await asyncio.wait_for(waiter, timeout)

    def send(self, key: str) -> None:
        # With an ack, as a chat client asks for one; nobody waits for it (open loop).
        self.emit("sendMessage", {"conversationId": self.conversation_id,
                                  "clientId": f"{self.adapter.nonce}|{key}",
                                  "text": PADDING}, ack=True)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


class SocketIOAdapter:
    """Clients in rooms of `room_size` (client n in conversation n // room_size), each
    joined with `joinConversation`. Socket.IO's room emit reaches the sender too, as
    Nirvana's newMessage does, so one send is `room_size` deliveries."""

    def __init__(self, url: str, room_size: int = 10) -> None:
        self.ws_url = url.replace("http://", "ws://", 1)
        self.room_size = room_size
        self.nonce = f"{random.getrandbits(40):010x}"
        self.frames: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    async def connect(self, client: int, deliver: Callable[[str], None],
                      timeout: float = 30) -> SocketIOConnection:
        conn = SocketIOConnection(self, f"room-{self.nonce}-{client // self.room_size}",
                                  deliver)
        conn.ws = await LeanWebSocket.connect(
            f"{self.ws_url}/socket.io/?EIO=4&transport=websocket&userId=u{client}",
            conn.on_text, timeout)
        for text in conn.early:
            conn.ws.send_text(text)
        await asyncio.wait_for(conn.connected, timeout)
        await conn.request("joinConversation", conn.conversation_id, timeout=timeout)
        return conn

    def recipients(self, sender: int) -> int:
        return self.room_size
