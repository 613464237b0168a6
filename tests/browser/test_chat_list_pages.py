"""The chat page lists every conversation of a member of more than a page of them: the
list asks for the next page when its end is scrolled into view, or when a keyboard user
reaches its "More conversations" button, whose focus then goes on to the first conversation
the page brought; a link to one beyond the first page reads it by id, lists it and opens it
(not over one clicked meanwhile), and a link to one the user is not in leaves the address
with a word on the status line; a conversation someone starts is read by id, not by reading
the first page again (docs/protocol.md, "Your conversation list, by page", "One conversation by id")."""

from __future__ import annotations

import asyncio
import json

import pytest
from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up
from tests.support.people import befriend

MANY = 230
NAMES = {f"group {n:03}" for n in range(MANY)}


async def many_groups(site, page, name: str) -> dict:
    a = await api_sign_up(site, page, name)
    for n in range(MANY):
        await site.services.chat.create_group(a["id"], f"group {n:03}", [])
    await page.goto("/chat")
    return a


async def test_scrolling_to_the_end_of_the_list_loads_the_rest(site):
    page = await site.new_page(width=1000)
    await many_groups(site, page, "Ana Many")
    items = page.locator("#conversation-list li[data-conversation]")
    await expect(items).to_have_count(200)  # the first page
    more = page.locator("#conversation-list li.more-conversations")
    await more.scroll_into_view_if_needed()
    await expect(items).to_have_count(MANY)
    await expect(more).to_have_count(0)  # nothing more to ask for
    assert set(await items.locator(".name").all_inner_texts()) == NAMES  # each once


async def test_a_keyboard_user_who_reaches_more_goes_on_to_the_next_conversation(site):
    page = await site.new_page(width=1000)
    await many_groups(site, page, "Kim Keys")
    items = page.locator("#conversation-list li[data-conversation]")
    await expect(items).to_have_count(200)
    await page.locator("#conversation-list li.more-conversations button").focus()
    await expect(items).to_have_count(MANY)
    await expect(items.nth(200).locator("button")).to_be_focused()


async def test_a_link_to_a_conversation_beyond_the_first_page_opens_it(site):
    page = await site.new_page(width=1000)
    a = await api_sign_up(site, page, "Lea Link")
    oldest = (await site.services.chat.create_group(a["id"], "the oldest", [])).id
    for n in range(MANY):
        await site.services.chat.create_group(a["id"], f"group {n:03}", [])
    await page.goto(f"/chat?c={oldest}")
    await expect(page.get_by_role("heading", name="the oldest", exact=True)).to_be_visible()
    items = page.locator("#conversation-list li[data-conversation]")
    await expect(items).to_have_count(201)  # the first page, and it: not the pages between
    await expect(items.filter(has_text="the oldest")).to_have_count(1)


class HeldByIdRead:
    """The page's `conversation` command (the read by id) is held at the network until
    `release()`; `answered` is set once the server's answer to it has reached the page."""

    def __init__(self) -> None:
        self.holding = asyncio.Event()
        self.answered = asyncio.Event()
        self._held = None

    async def route(self, ws) -> None:
        server = ws.connect_to_server()

        def from_page(message) -> None:
            frame = json.loads(message)
            if self._held is None and frame.get("type") == "conversation":
                self._held = (server, message, frame.get("id"))
                self.holding.set()
            else:
                server.send(message)

        def from_server(message) -> None:
            ws.send(message)
            if self._held is not None and json.loads(message).get("id") == self._held[2]:
                self.answered.set()

        ws.on_message(from_page)
        server.on_message(from_server)

    def release(self) -> None:
        server, message, _ = self._held
        server.send(message)


async def test_a_conversation_clicked_while_a_link_is_read_by_id_stays_open(site):
    page = await site.new_page(width=1000)
    a = await api_sign_up(site, page, "Cyd Clicker")
    oldest = (await site.services.chat.create_group(a["id"], "the oldest", [])).id
    for n in range(MANY):
        await site.services.chat.create_group(a["id"], f"group {n:03}", [])
    held = HeldByIdRead()
    await page.route_web_socket("**/ws*", held.route)
    await page.goto(f"/chat?c={oldest}")
    async with asyncio.timeout(10):
        await held.holding.wait()
    clicked = page.locator("#conversation-list li", has_text="group 229")
    await clicked.get_by_role("button").click()
    heading = page.get_by_role("heading", name="group 229", exact=True)
    await expect(heading).to_be_visible()
    url = page.url
    assert "?c=" in url and oldest not in url
    held.release()
    async with asyncio.timeout(10):
        await held.answered.wait()
    # A group started now reaches the page on the same socket after the answer, and is
    # listed only after a read by id of its own: once it is, the answer has been handled.
    await site.services.chat.create_group(a["id"], "started after", [])
    await expect(page.locator("#conversation-list li", has_text="started after")).to_have_count(1)
    await expect(heading).to_be_visible()
    assert page.url == url
    await expect(page.get_by_role("heading", name="the oldest", exact=True)).to_have_count(0)
    await expect(page.locator("#chat-status")).not_to_contain_text("not available")


@pytest.mark.parametrize("link", ["/chat?c={id}", "/chat#{id}"])  # #id: older links
async def test_a_link_to_a_conversation_the_user_is_not_in_says_it_is_not_available(site, link):
    page = await site.new_page(width=1000)
    a = await api_sign_up(site, page, "Nia Nolink")
    b = await api_sign_up(site, await site.new_page(), "Bo Elsewhere")
    await site.services.chat.create_group(a["id"], "mine", [])
    other = await site.services.chat.create_group(b["id"], "theirs", [])
    await page.goto(link.format(id=other.id))
    await expect(page.locator("#chat-status")).to_contain_text("not available")
    await expect(page).to_have_url(f"{site.base}/chat")
    await expect(page.get_by_role("heading", name="theirs", exact=True)).to_have_count(0)
    items = page.locator("#conversation-list li[data-conversation]")
    await expect(items).to_have_count(1)


async def test_a_conversation_someone_starts_is_read_by_id_not_by_the_first_page_again(site):
    page = await site.new_page(width=1000)
    sent: list[dict] = []
    page.on("websocket", lambda ws: ws.on(
        "framesent", lambda payload: sent.append(json.loads(payload))))
    me = await many_groups(site, page, "Ida Inbox")
    items = page.locator("#conversation-list li[data-conversation]")
    await expect(items).to_have_count(200)
    b = await api_sign_up(site, await site.new_page(), "Ray Starter")
    await befriend(site.services, me["id"], b["id"])
    direct = await site.services.chat.open_direct(b["id"], me["id"])
    await site.services.chat.send_message(b["id"], direct.id, client_id="k", text="hi Ida")
    await expect(items.first.locator(".snippet")).to_have_text("hi Ida")
    await expect(items).to_have_count(201)
    asked = [frame["type"] for frame in sent if frame.get("type") in
             ("conversation", "conversations")]
    assert asked == ["conversations", "conversation"], asked
