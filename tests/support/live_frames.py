"""What the hub sends a member's socket, without a socket: a connection registered with the
hub (ws/hub.py) whose queued frames a test reads."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from nirvana.ws.connection import Connection


class LiveFrames:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.texts: list[str] = []

    async def read(self) -> list[str]:
        """Every frame queued since the last read (the raw JSON texts), and those before."""
        while self._conn.queued_frames:
            self.texts.append(await self._conn.next())
        return self.texts


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
