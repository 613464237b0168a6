"""A small test client of the chat protocol, written from docs/protocol.md."""

from __future__ import annotations

import asyncio
import itertools
import json
from typing import Any

import websockets

from tests.support.frame_schema import ServerFrames, served_frames

_ids = itertools.count(1)
# How long to wait for an event before failing: far beyond any delivery on a busy machine,
# so it only ends a wait for an event that is not coming.
WAIT = 10.0


class Client:
    def __init__(self, ws, user: dict, frames: ServerFrames | None = None) -> None:
        self.ws = ws
        self.user = user
        self.frames = frames  # every frame received is checked against the served schema
        self.hello: dict = {}
        self.backlog: list[dict] = []

    @classmethod
    async def connect(cls, url: str, user: dict, since: int | None = None, **kw) -> "Client":
        query = f"?token={user['jwt']}" + (f"&since={since}" if since is not None else "")
        frames = await served_frames(url)
        # A test's client often stops reading before it closes (its queue full, the
        # server's close frame unread): its close then gives up after 2 s, not 10.
        kw.setdefault("close_timeout", 2.0)
        ws = await websockets.connect(f"{url}{query}", **kw)
        client = cls(ws, user, frames)
        client.hello = await client.recv()
        assert client.hello["type"] == "hello"
        return client

    async def recv(self, timeout: float = WAIT) -> dict:
        frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        if self.frames is not None:
            self.frames.check(frame)
        return frame

    async def expect(self, type_: str, timeout: float = WAIT, **match: Any) -> dict:
        """The next event of this type (matching fields); others are kept in backlog."""
        for i, event in enumerate(self.backlog):
            if event["type"] == type_ and all(event.get(k) == v for k, v in match.items()):
                return self.backlog.pop(i)
        while True:
            event = await self.recv(timeout)
            if event["type"] == type_ and all(event.get(k) == v for k, v in match.items()):
                return event
            self.backlog.append(event)

    async def command(self, type_: str, *, timeout: float = WAIT, **fields: Any) -> dict:
        """Send a command; the ack/error/pong/resumed answering it."""
        rid = f"r{next(_ids)}"
        await self.ws.send(json.dumps({"type": type_, "id": rid, **fields}))
        for i, event in enumerate(self.backlog):
            if event.get("id") == rid:
                return self.backlog.pop(i)
        while True:
            event = await self.recv(timeout)
            if event.get("id") == rid:
                return event
            self.backlog.append(event)

    async def open_direct(self, other: dict) -> str:
        """The id of this user's direct conversation with `other` (a friend), opened or found."""
        opened = await self.command("open_direct", user_id=other["id"])
        assert opened["type"] == "ack", opened
        return opened["conversation"]["id"]

    async def close(self) -> None:
        await self.ws.close()
