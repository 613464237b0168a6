"""Shared start-up of the ceiling servers: bind like run.py does, print the same line."""

from __future__ import annotations

import argparse
import socket

from nirvana.serving import open_listener

from ..servers import raise_fd_limit


def listening_socket() -> socket.socket:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    raise_fd_limit()
    return open_listener("127.0.0.1", args.port)  # bound as run.py binds


def announce(sock: socket.socket, what: str) -> None:
    host, port = sock.getsockname()[:2]
    print(f"{what} listening on http://{host}:{port}", flush=True)
