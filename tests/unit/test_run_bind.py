"""run.py's listening socket: accepted connections must get TCP_NODELAY from asyncio."""

from __future__ import annotations

import asyncio
import socket

from run import bind


def test_accepted_connections_get_tcp_nodelay():
    # asyncio sets TCP_NODELAY only when the socket's proto is IPPROTO_TCP; without it every
    # keep-alive response waited ~40 ms for a delayed ACK.
    listener = bind("127.0.0.1", 0)

    async def nodelay_of_accepted() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_connection(reader: asyncio.StreamReader,
                                writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(on_connection, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
            value = await asyncio.wait_for(accepted, 5)
            writer.close()
            await writer.wait_closed()
        return value

    assert asyncio.run(nodelay_of_accepted()) != 0
