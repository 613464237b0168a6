"""A real uvicorn server on an ephemeral port, in the test's event loop, with run.py's
options (nirvana/serving.py); clients are real `websockets` and `httpx` clients."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, replace

import httpx
import pytest
import uvicorn

from nirvana.app import create_app
from nirvana.serving import uvicorn_options
from nirvana.settings import Settings
from tests.conftest import TEST_ORIGIN


@dataclass
class Live:
    base: str
    ws: str
    http: httpx.AsyncClient
    server: uvicorn.Server
    services: object


async def start_server(app, max_size: int, sndbuf: int | None = None,
                       settings: Settings | None = None
                       ) -> tuple[uvicorn.Server, asyncio.Task, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # see run.py
    if sndbuf is not None:
        # Inherited by accepted sockets; lets a test fill the kernel buffer in a few frames.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The services are the fixture's, not the app's lifespan; a test's limits may differ.
    config = uvicorn.Config(app, **{**uvicorn_options(settings or Settings()),
                                    "lifespan": "off", "ws_max_size": max_size,
                                    "timeout_graceful_shutdown": 2})
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, port


@pytest.fixture
def ws_limits():
    """Override per test module to tighten limits (e.g. a small outgoing queue)."""
    return None


@pytest.fixture
def server_sndbuf():
    return None


@pytest.fixture
async def live(services, settings, ws_limits, server_sndbuf):
    if ws_limits is not None:
        services.ws_limits = ws_limits
    app = create_app(settings, services)
    server, task, port = await start_server(app, services.ws_limits.max_frame_bytes,
                                            server_sndbuf, settings)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, headers={"Origin": TEST_ORIGIN}) as http:
        yield Live(base, f"ws://127.0.0.1:{port}/ws", http, server, services)
    await services.before_shutdown()
    server.should_exit = True
    await task
    await services.session_watch.close()
    await services.chat_store.close()


__all__ = ["replace"]
