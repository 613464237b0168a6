"""Shared start-up of the ceiling servers: bind like run.py does, print the same line."""

from __future__ import annotations

import argparse
import socket

from ..servers import raise_fd_limit


def listening_socket() -> socket.socket:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    raise_fd_limit()
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on sockets whose proto says TCP, and
    # without it every keep-alive response (headers and body are two writes) waits ~40 ms
    # for a delayed ACK. run.py binds the same way.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(2048)  # run.py's backlog
    sock.set_inheritable(True)
    return sock


def announce(sock: socket.socket, what: str) -> None:
    host, port = sock.getsockname()[:2]
    print(f"{what} listening on http://{host}:{port}", flush=True)
