"""Typed order in the chat page: a conversation's messages are stored and shown in the order
they were typed, even when the first is held back on the network (docs/protocol.md, the
reference client, Sends); another conversation does not wait for it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re

from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up, befriend, messages, open_chat_with, send


class HeldSend:
    """The page's first `send` after `arm()` is held at the network until `release()`; every
    other frame passes both ways. `acks` counts the acks of sends (those carrying the stored
    message) the server sent the page meanwhile."""

    def __init__(self) -> None:
        self.armed = False
        self.held: str | None = None
        self.holding = asyncio.Event()
        self.acks = 0
        self.acked = asyncio.Event()
        self._server = None

    def arm(self) -> None:
        self.armed = True

    async def route(self, ws) -> None:
        server = ws.connect_to_server()

        def from_page(message) -> None:
            if self.armed and json.loads(message).get("type") == "send":
                self.armed = False
                self.held, self._server, self._page = message, server, ws
                self.holding.set()
            else:
                server.send(message)

        def from_server(message) -> None:
            ws.send(message)
            frame = json.loads(message)
            if self.held is not None and frame.get("type") == "ack" and "message" in frame:
                self.acks += 1
                self.acked.set()

        ws.on_message(from_page)
        server.on_message(from_server)

    async def wait_held(self) -> None:
        async with asyncio.timeout(10):
            await self.holding.wait()

    async def acks_meanwhile(self, wanted: int, patience: float = 1.5) -> None:
        """Give the page a moment to get sends past the held one acknowledged (a client that
        pipelines does), and return early once `wanted` were."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(patience):
                while self.acks < wanted:
                    self.acked.clear()
                    await self.acked.wait()

    def release(self) -> None:
        self._server.send(self.held)

    async def close(self, code: int, reason: str) -> None:
        """Close the page's socket as the server would, the held send never reaching it."""
        await self._page.close(code=code, reason=reason)
        await self._server.close()


async def friends(site, *names: str):
    pages, users = [], []
    for name in names:
        page = await site.new_page()
        pages.append(page)
        users.append(await api_sign_up(site, page, name))
    for page, user in zip(pages[1:], users[1:]):
        await befriend(site, pages[0], users[0], page, user)
    return pages, users


async def test_a_first_send_held_back_keeps_its_place_before_the_two_typed_after_it(site):
    (page_a, page_b), (a, b) = await friends(site, "Ana Typist", "Ben Reader")
    held = HeldSend()
    await page_a.route_web_socket("**/ws*", held.route)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)

    held.arm()
    for text in ("a", "b", "c"):
        await send(page_a, text)
    await held.wait_held()
    await held.acks_meanwhile(2)
    # "a" is not stored yet, so neither are the two typed after it: Ben has nothing. On a slow
    # machine a pipelining client may pass this step; Ben's a, b, c after the release decides.
    assert held.acks == 0
    await expect(messages(page_b)).to_have_count(0)
    await expect(messages(page_a)).to_have_text(["a", "b", "c"])  # shown as pending

    held.release()
    await expect(messages(page_b)).to_have_text(["a", "b", "c"])
    await expect(page_a.locator("#messages li.mine [data-tick]")).to_have_count(3)
    await expect(page_a.locator('#messages li.mine [data-tick="pending"]')).to_have_count(0)
    await page_b.reload()  # the history, as stored
    await expect(messages(page_b)).to_have_text(["a", "b", "c"])
    await page_a.reload()
    await expect(messages(page_a)).to_have_text(["a", "b", "c"])


async def test_a_send_held_in_one_conversation_does_not_hold_another(site):
    (page_a, page_b, page_c), (a, b, c) = await friends(
        site, "Ana Typist", "Ben Reader", "Cai Reader")
    held = HeldSend()
    await page_a.route_web_socket("**/ws*", held.route)
    await open_chat_with(page_a, c)  # both conversations in Ana's list
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    await open_chat_with(page_c, a)

    held.arm()
    await send(page_a, "to Ben")
    await held.wait_held()
    await page_a.locator("#conversation-list li", has_text=c["name"]).get_by_role("button").click()
    await page_a.get_by_role("heading", name=c["name"], exact=True).wait_for()
    await send(page_a, "to Cai")
    await expect(messages(page_c)).to_have_text(["to Cai"])  # while Ben's is still held
    await expect(messages(page_b)).to_have_count(0)

    held.release()
    await expect(messages(page_b)).to_have_text(["to Ben"])


class ServerFault:
    """The server failing on a send, as the protocol says it does (docs/protocol.md, Errors
    and Close codes): the page's `send` of `text` is answered `internal_error` and the socket
    closed 1011, the first `times` times. It never reaches the server, unless `stored`: then
    it does, and the server's ack is what the fault replaces. Every other frame passes both
    ways. `client_ids` lists the client id of every `send` of `text` the page made;
    `duplicates` counts the acks the page got with `duplicate: true`."""

    def __init__(self, text: str, times: int, stored: bool = False) -> None:
        self.text, self.times, self.stored = text, times, stored
        self.client_ids: list[str] = []
        self.faulted = 0
        self.duplicates = 0

    async def route(self, ws) -> None:
        server = ws.connect_to_server()
        acks_to_fail: set[str] = set()  # ids of the stored sends whose ack becomes the fault
        closing = False  # what the page sends after the fault is lost, as on a closing socket

        def fail(command_id: str) -> None:
            nonlocal closing
            closing = True
            ws.send(json.dumps({"type": "error", "id": command_id,
                                "code": "internal_error", "message": "Internal error."}))
            asyncio.ensure_future(ws.close(code=1011, reason="internal error"))
            asyncio.ensure_future(server.close())

        def from_page(message) -> None:
            if closing:
                return
            frame = json.loads(message)
            if frame.get("type") == "send" and frame.get("text") == self.text:
                self.client_ids.append(frame["client_id"])
                if self.faulted < self.times:
                    self.faulted += 1
                    if not self.stored:
                        return fail(frame["id"])
                    acks_to_fail.add(frame["id"])
            server.send(message)

        def from_server(message) -> None:
            if closing:
                return
            frame = json.loads(message)
            if frame.get("type") == "ack" and frame.get("id") in acks_to_fail:
                return fail(frame["id"])
            self.duplicates += frame.get("type") == "ack" and frame.get("duplicate") is True
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)


async def ana_types_abc_through(site, fault: ServerFault):
    """Ana and Ben in a chat, both pages open on it, Ana's socket through `fault`; Ana types
    "a", "b", "c". Returns Ana's page and Ben's."""
    (page_a, page_b), (a, b) = await friends(site, "Ana Typist", "Ben Reader")
    await page_a.route_web_socket("**/ws*", fault.route)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    for text in ("a", "b", "c"):
        await send(page_a, text)
    return page_a, page_b


async def test_a_send_the_server_failed_on_goes_again_first_after_the_reconnect(site):
    fault = ServerFault("a", times=1)
    page_a, page_b = await ana_types_abc_through(site, fault)
    # "a" may or may not be stored after internal_error: it is not given up, and goes again
    # with its client id before the two typed after it.
    await expect(messages(page_b)).to_have_text(["a", "b", "c"])
    await expect(page_a.locator('#messages li.mine [data-tick="pending"]')).to_have_count(0)
    await expect(page_a.locator("#messages li.failed")).to_have_count(0)
    assert fault.faulted == 1 and len(fault.client_ids) == 2
    assert fault.client_ids[0] == fault.client_ids[1]
    await page_b.reload()
    await expect(messages(page_b)).to_have_text(["a", "b", "c"])


async def test_a_send_stored_then_failed_on_goes_again_and_shows_once(site):
    fault = ServerFault("a", times=1, stored=True)
    page_a, page_b = await ana_types_abc_through(site, fault)
    # "a" is stored, but Ana's page is told internal_error: it goes again with its client id,
    # is answered duplicate, and shows once on both pages, before "b" and "c".
    await expect(messages(page_b)).to_have_text(["a", "b", "c"])
    await expect(page_a.locator('#messages li.mine [data-tick="pending"]')).to_have_count(0)
    await expect(page_a.locator("#messages li.failed")).to_have_count(0)
    await expect(messages(page_a)).to_have_text(["a", "b", "c"])
    assert fault.faulted == 1 and len(fault.client_ids) == 2
    assert fault.client_ids[0] == fault.client_ids[1] and fault.duplicates == 1
    await page_b.reload()
    await expect(messages(page_b)).to_have_text(["a", "b", "c"])
    await page_a.reload()
    await expect(messages(page_a)).to_have_text(["a", "b", "c"])


async def test_a_send_the_server_fails_on_three_times_is_given_up_and_the_rest_go_on(site):
    fault = ServerFault("a", times=100)
    page_a, page_b = await ana_types_abc_through(site, fault)
    await expect(messages(page_b)).to_have_text(["b", "c"])
    await expect(page_a.locator("#messages li.failed")).to_have_text(re.compile("Not sent"))
    assert fault.faulted == 3 and len(set(fault.client_ids)) == 1


async def test_sends_waiting_when_the_server_closes_for_good_show_as_not_sent(site):
    (page_a, page_b), (a, b) = await friends(site, "Ana Typist", "Ben Reader")
    held = HeldSend()
    await page_a.route_web_socket("**/ws*", held.route)
    await open_chat_with(page_a, b)

    held.arm()
    for text in ("a", "b"):
        await send(page_a, text)
    await held.wait_held()
    await held.close(1008, "policy violation")  # a close reconnecting cannot fix
    await expect(page_a.locator("#messages li.failed")).to_have_count(2)
    await expect(page_a.locator('#messages li.mine [data-tick="pending"]')).to_have_count(0)
    # Stopped: Try again and a new message fail at once (never "Sending…" for ever), and the
    # page keeps every one of them, so a reload sends them all in the order typed.
    text_a = page_a.locator(".text").get_by_text("a", exact=True)
    await page_a.locator("#messages li.failed", has=text_a).get_by_role(
        "button", name="Try again").click()
    await send(page_a, "c")
    await expect(page_a.locator("#messages li.failed")).to_have_count(3)
    await expect(page_a.locator('#messages li.mine [data-tick="pending"]')).to_have_count(0)
    await expect(page_a.locator("#messages li.mine.pending:not(.failed)")).to_have_count(0)
    await page_a.reload()  # nothing is held any more: every frame passes
    await open_chat_with(page_b, a)
    await expect(messages(page_b)).to_have_text(["a", "b", "c"])
    # None left failed (as text: a failure then names the reason shown), and Ana's own page
    # has the three stored, none still pending.
    await expect(page_a.locator("#messages li.failed")).to_have_text([])
    await expect(messages(page_a)).to_have_text(["a", "b", "c"])
    await expect(page_a.locator('#messages li.mine [data-tick="pending"]')).to_have_count(0)
