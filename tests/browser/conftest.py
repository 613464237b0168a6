"""Browser tests: Playwright (Python) driving Debian's Chromium against a real uvicorn server.

Playwright's own browser download is not used (not reachable here): the tests launch
/usr/bin/chromium through its executable path. Without it they are skipped with the reason,
except under CI=true, where a missing browser fails the run.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest
import uvicorn

from nirvana.app import create_app
from nirvana.serving import uvicorn_options
from tests.support.servers import TestServer
from tests.support.waiting import wait_until

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
# The README's screenshots are rewritten only on request (UPDATE_SCREENSHOTS=1): every run
# takes them, but names and dates differ from run to run and would dirty the tree.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
async def browser():
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM),
                                                   args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
def web_socket():
    """The server's listening socket, bound before the app is built, so the settings (the
    mailed links' public URL, the allowed Origin) can name its real port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    # As uvicorn does: a restarted server may bind the port again past its closed connections.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def settings(base_settings, tmp_path, web_socket):
    port = web_socket.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    return replace(base_settings, data_dir=tmp_path, port=port, public_url=base,
                   allowed_origins=(base,))


@dataclass
class Site:
    """The running server and the browser contexts a test opened on it."""

    base: str
    services: object
    settings: object
    browser: object
    contexts: list = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    server: object = None  # the uvicorn.Server and its task: a test may replace both (restart)
    task: object = None
    after_stop: list = field(default_factory=list)  # coroutine functions run once it stopped

    async def new_page(self, *, width: int = 1000, height: int = 800, **options):
        """A page in a fresh context (its own cookies: another user). Console errors, CSP
        violations and uncaught exceptions are collected in `problems`."""
        context = await self.browser.new_context(
            base_url=self.base, viewport={"width": width, "height": height}, **options)
        self.contexts.append(context)
        page = await context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("response", self._response)
        return page

    def _console(self, message) -> None:
        # A page answered 4xx on purpose (a form with errors, a 404 page) is logged as a
        # failed load; failed sub-resources are judged by _response instead.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def _response(self, response) -> None:
        request = response.request
        if response.status >= 400 and request.resource_type != "document":
            self.problems.append(f"{request.resource_type} {request.url}: {response.status}")

    def outbox(self) -> list[Path]:
        return sorted((self.settings.data_dir / "outbox").glob("*.eml"))

    async def screenshot(self, page, name: str) -> Path:
        folder = (SCREENSHOTS if os.environ.get("UPDATE_SCREENSHOTS") == "1"
                  else self.settings.data_dir / "screenshots")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.png"
        await page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
async def site(browser, services, settings, web_socket):
    app = create_app(settings, services)
    config = uvicorn.Config(app, **{**uvicorn_options(settings), "lifespan": "off",
                                    "timeout_graceful_shutdown": 2})
    server = TestServer(config)
    task = asyncio.create_task(server.serve(sockets=[web_socket]))
    await wait_until(lambda: server.started or task.done(), "uvicorn to start", timeout=30)
    if task.done():  # it gave up: the exception says why
        task.result()
    live = Site(settings.public_url, services, settings, browser, server=server, task=task)
    try:
        yield live
    finally:
        for context in live.contexts:
            await context.close()
        await live.services.before_shutdown()
        live.server.should_exit = True
        await live.task
        for close in live.after_stop:
            await close()
    assert not live.problems, live.problems
