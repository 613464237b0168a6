"""Shared start-up of the ceiling servers: bind like run.py does, run on the event loop
run.py would run on (EVENT_LOOP, as Settings reads it), print the same line."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
from typing import Any, Coroutine

from nirvana.serving import loop_factory, open_listener
from nirvana.settings import Settings

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


def run_on_servers_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on the event loop Nirvana runs on with this environment: a floor measured
    on another loop than the server's would not be the same job's floor."""
    name = Settings.from_env(os.environ).event_loop
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        runner.run(main)
