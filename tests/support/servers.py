"""A real uvicorn server on an ephemeral port, in the test's event loop, with run.py's
options (nirvana/serving.py); and the Origin every test client presents."""

from __future__ import annotations

import asyncio
import socket

import uvicorn

from nirvana.serving import uvicorn_options
from nirvana.settings import Settings
from tests.support.waiting import wait_until

TEST_ORIGIN = "http://testserver"


class TestServer(uvicorn.Server):
    """uvicorn's server, noticing `should_exit` within 10 ms rather than at its next 0.1 s
    tick: tests stop hundreds of servers. The stop itself (uvicorn's `shutdown`) is
    unchanged. Overrides `main_loop`, checked by tests/unit/test_framework_internals.py.
    Ticking ten times as often has side effects, harmless to the tests: uvicorn's `on_tick`
    refreshes the Date header every tenth tick, so every 0.1 s here, not once a second; its
    counter wraps after 2.4 h, not 24 h; and each live server wakes 100 times a second."""

    __test__ = False  # not a test class, whatever its name

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):
            await asyncio.sleep(0.01)
            counter = (counter + 1) % 864000


async def start_server(app, max_size: int, sndbuf: int | None = None,
                       settings: Settings | None = None, **options: object
                       ) -> tuple[TestServer, asyncio.Task, int]:
    """Serve `app` on 127.0.0.1; `options` override uvicorn's (e.g. the heartbeat)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # see run.py
    if sndbuf is not None:
        # Inherited by accepted sockets; lets a test fill the kernel buffer in a few frames.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The services are the fixture's, not the app's lifespan; a test's limits may differ.
    config = uvicorn.Config(app, **{**uvicorn_options(settings or Settings()),
                                    "lifespan": "off", "ws_max_size": max_size,
                                    "timeout_graceful_shutdown": 2, **options})
    server = TestServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_until(lambda: server.started or task.done(), "uvicorn to start", timeout=30)
    if task.done():  # it gave up (the exception says why)
        task.result()
    return server, task, port
