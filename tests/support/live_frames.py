"""What the hub sends a member's socket, without a socket: a connection registered with the
hub (ws/hub.py) whose queued frames a test reads."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from nirvana.ws.connection import Connection


class LiveFrames:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.texts: list[str] = []

    async def read(self) -> list[str]:
        """Every frame sent to the socket so far (the raw JSON texts), oldest first."""
        while self._conn.queued_frames:
            self.texts.append(await self._conn.next())
        return self.texts


def texts_in(frame: str) -> list[str]:
    """The message texts a frame carries (a change's copy of its message, a summary's last
    message), wherever they are in it, and their attachments' urls and names: what an
    erasure removes from a message."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if key == "text" and isinstance(inner, str):
                    found.append(inner)
                elif key == "attachments" and isinstance(inner, list):
                    found.extend(a[part] for a in inner for part in ("url", "name")
                                 if isinstance(a, dict) and isinstance(a.get(part), str))
                else:
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)
    walk(json.loads(frame))
    return found


@asynccontextmanager
async def live_frames(hub: Any, user_id: int, head: int) -> AsyncIterator[LiveFrames]:
    """`user_id`'s socket, live after stream position `head` (as a client's `hello`)."""
    conn = Connection(user_id, "watching", max_queue=1000)
    await hub.connected(conn)
    conn.start_live(head)
    frames = LiveFrames(conn)
    try:
        yield frames
    finally:
        hub.disconnected(conn)
