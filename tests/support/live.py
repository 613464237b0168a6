"""The `live` fixture: a real uvicorn server (tests/support/servers.py) over the test's
services; clients are real `websockets` and `httpx` clients. A conftest that wants it imports
the fixtures from here."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
import uvicorn

from nirvana.app import create_app
from tests.support.servers import TEST_ORIGIN, start_server


@dataclass
class Live:
    base: str
    ws: str
    http: httpx.AsyncClient
    server: uvicorn.Server
    services: object


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

