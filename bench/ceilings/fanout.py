"""Ceiling for chat: the least WebSocket fan-out server, the `websockets` library's
`broadcast()` to the room a client joined by its path (/room/<n>), no storage, no auth.
Every text frame is sent to every member of the room, the sender included (the echo is the
sender's acknowledgement, as a chat server's would be). `broadcast()` has no backpressure:
a slow client loses frames, which the load generator counts as lost.
`python -m bench.ceilings.fanout [--port N]`"""

from __future__ import annotations

from collections import defaultdict

from websockets.asyncio.server import ServerConnection, broadcast, serve

from ._listen import announce, listening_socket, run_on_servers_loop

rooms: dict[str, set[ServerConnection]] = defaultdict(set)


async def handler(ws: ServerConnection) -> None:
    room = ws.request.path if ws.request else "/"
    members = rooms[room]
    members.add(ws)
    try:
        async for message in ws:
            broadcast(members, message)
    finally:
        members.discard(ws)
        if not members:
            rooms.pop(room, None)


async def main() -> None:
    sock = listening_socket()
    # No compression and run.py's frame limit: what a chat server would run with.
    async with serve(handler, sock=sock, compression=None, max_size=64 * 1024,
                     ping_interval=None) as server:
        announce(sock, "fanout")
        await server.serve_forever()


if __name__ == "__main__":
    try:
        run_on_servers_loop(main())
    except KeyboardInterrupt:
        pass
