"""A send confirmed before its conversation's history has reached the chat page: its `ack`
(and its own `newMessage`) come while the history is read, and the history was read before
the send was stored. The page shows it stored, once, and never as still sending."""

from __future__ import annotations

import asyncio
import json

from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up, befriend, messages, open_chat_with, send


class HistoryFirst:
    """Sends are held at the network: for good while `keep` is set (the page keeps them for
    its next load), else until the page's `history` read has been answered by the server, its
    answer itself held until the send's ack has reached the page. So the history is read before
    the send is stored, and the page hears of the send first."""

    def __init__(self) -> None:
        self.keep = True
        self.kept = asyncio.Event()
        self.acked = asyncio.Event()
        self._sends: list = []
        self._history_id = None
        self._answer = None

    async def route(self, ws) -> None:
        server = ws.connect_to_server()

        def from_page(message) -> None:
            frame = json.loads(message)
            if frame.get("type") == "send":
                if self.keep:
                    self.kept.set()
                elif self._answer is not None:
                    server.send(message)
                else:
                    self._sends.append((server, message))
                return
            if frame.get("type") == "history" and self._history_id is None and not self.keep:
                self._history_id = frame.get("id")
            server.send(message)

        def from_server(message) -> None:
            frame = json.loads(message)
            if self._history_id is not None and frame.get("id") == self._history_id \
                    and self._answer is None:
                self._answer = (ws, message)
                for to, send_frame in self._sends:
                    to.send(send_frame)
                return
            ws.send(message)
            if frame.get("type") == "ack" and "message" in frame:
                self.acked.set()

        ws.on_message(from_page)
        server.on_message(from_server)

    def release(self) -> None:
        page, message = self._answer
        page.send(message)


async def test_a_send_acked_before_its_history_is_read_shows_stored_once(site):
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ari Early")
    b = await api_sign_up(site, page_b, "Bea Early")
    await befriend(site, page_a, a, page_b, b)
    held = HistoryFirst()
    await page_a.route_web_socket("**/ws*", held.route)
    await open_chat_with(page_a, b)
    await send(page_a, "before the history")
    async with asyncio.timeout(10):
        await held.kept.wait()
    await expect(page_a.locator('#messages li.mine [data-tick="pending"]')).to_have_count(1)

    # Loaded again on the list: the kept send goes once the conversation's history is read.
    held.keep = False
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    await page_a.locator("#conversation-list li", has_text="Bea Early").get_by_role(
        "button").first.click()
    async with asyncio.timeout(10):
        await held.acked.wait()
    held.release()

    mine = page_a.locator("#messages li.mine")
    await expect(mine.locator('[data-tick="sent"], [data-tick="delivered"], [data-tick="read"]')
                 ).to_have_count(1)
    await expect(messages(page_a)).to_have_text(["before the history"])
    await expect(page_a.locator("#messages li.pending")).to_have_count(0)
    await open_chat_with(page_b, a)
    await expect(messages(page_b)).to_have_text(["before the history"])
