"""Chat steps shared by the browser tests: people set up fast through the HTTP API (the
context's request client shares the page's cookies), then the chat page driven as a user."""

from __future__ import annotations

import asyncio
import itertools
import socket

import uvicorn

from nirvana.app import create_app
from nirvana.bootstrap import build_services
from nirvana.serving import uvicorn_options

from tests.support.http import PASSWORD
from tests.support.servers import TestServer
from tests.support.waiting import wait_until

_counter = itertools.count(1)


async def api_sign_up(site, page, name: str) -> dict:
    """Sign up through POST /api/v1/user/signup in this page's context: its cookies sign the
    page in. Returns the API's user."""
    n = next(_counter)
    response = await page.context.request.post(
        "/api/v1/user/signup", headers={"Origin": site.base},
        data={"email": f"chatter{n}@example.com", "password": PASSWORD, "name": name})
    assert response.status == 201, await response.text()
    return (await response.json())["user"]


async def befriend(site, page_a, a: dict, page_b, b: dict) -> None:
    asked = await page_a.context.request.post(f"/api/v1/friends/requests/{b['id']}",
                                              headers={"Origin": site.base})
    assert asked.ok, await asked.text()
    accepted = await page_b.context.request.post(f"/api/v1/friends/requests/{a['id']}/accept",
                                                 headers={"Origin": site.base})
    assert accepted.ok, await accepted.text()


async def open_chat_with(page, other: dict) -> None:
    await page.goto(f"/chat?with={other['id']}")
    await page.get_by_role("heading", name=other["name"], exact=True).wait_for()
    await page.locator("#chat-status", has_text="Connected").wait_for()


async def send(page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    await box.fill(text)
    await box.press("Enter")


class SocketFrames:
    """What the page's WebSocket receives, as the browser sees it: a test waits for a frame
    to have reached the page before it acts."""

    def __init__(self, page) -> None:
        self._texts: list[str] = []
        self._arrived = asyncio.Event()
        page.on("websocket", lambda ws: ws.on("framereceived", self._heard))

    def _heard(self, payload) -> None:
        self._texts.append(payload if isinstance(payload, str) else payload.decode())
        self._arrived.set()

    async def received(self, *parts: str, timeout: float = 10.0) -> str:
        """The first frame received (so far or next) that holds every one of `parts`."""
        async with asyncio.timeout(timeout):
            while True:
                for text in self._texts:
                    if all(part in text for part in parts):
                        return text
                self._arrived.clear()
                await self._arrived.wait()


class HeldRequests:
    """A slow network for the requests matching `pattern`: held after `hold()` until
    `release()`, then sent on to the server unchanged."""

    def __init__(self, page, pattern: str) -> None:
        self._page = page
        self._pattern = pattern
        self._released = asyncio.Event()

    async def _hold(self, route) -> None:
        await self._released.wait()
        await route.continue_()

    async def hold(self) -> None:
        await self._page.route(self._pattern, self._hold)

    async def release(self) -> None:
        self._released.set()


def messages(page):
    return page.get_by_role("log", name="Messages").locator("li .text")


async def restart_server(site, stores, settings, listening: socket.socket) -> None:
    """Stop the server as a deploy does (sockets closed with 1001, "reconnect and resume") and
    start a new one on the same port: fresh services, nothing in memory, the same stores."""
    port = int(site.base.rsplit(":", 1)[1])
    await site.services.before_shutdown()
    site.server.should_exit = True
    await site.task
    listening.close()  # uvicorn served a duplicate of it; the port is free only now
    pool, mongo = stores
    services = build_services(settings, pool, mongo, secret="t" * 48)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(create_app(settings, services),
                            **{**uvicorn_options(settings), "lifespan": "off",
                               "timeout_graceful_shutdown": 2})
    server = TestServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_until(lambda: server.started or task.done(), "uvicorn to restart", timeout=30)
    if task.done():  # it gave up: the exception says why
        task.result()
    site.services, site.server, site.task = services, server, task

    async def close() -> None:
        await services.session_watch.close()
        if services.presence_store is not None:
            await services.presence_store.close()
        await services.chat_store.close()
        sock.close()

    site.after_stop.append(close)
