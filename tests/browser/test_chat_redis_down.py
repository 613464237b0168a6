"""The chat page during a Redis outage, on an instance that is not the chat writer: its new
sockets are refused (1013, docs/cluster-chat.md), so the page shows the conversations and the
open history read over HTTP, marked not live, until a socket is taken; once Redis is back
the page is live again."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.support.browser_chat import api_sign_up, befriend, messages, open_chat_with, send
from tests.support.instances import instances, shared_databases  # noqa: F401 (fixtures)
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)
from tests.support.system import free_ports

pytestmark = pytest.mark.slow


async def test_the_list_is_read_over_http_while_redis_is_down_then_live(
        browser, instances, redis_server):  # noqa: F811
    # Started first, the first instance holds the chat writer's lease; the page is on the other.
    # Fixed ports: the default allowed origins name the port an instance is told to use.
    for port in free_ports(2):
        await instances.start(1, PORT=str(port))
    first, second = instances.running
    site = SimpleNamespace(base=second.url)
    contexts = [await browser.new_context(base_url=second.url) for _ in range(3)]
    try:
        page, page_b, page_c = [await context.new_page() for context in contexts]
        a = await api_sign_up(site, page, "Ada Outage")
        b = await api_sign_up(site, page_b, "Bo Outage")
        c = await api_sign_up(site, page_c, "Cy Outage")
        await befriend(site, page, a, page_b, b)
        await befriend(site, page, a, page_c, c)
        said = await page_c.context.request.post(
            f"/api/messages/send/{a['id']}", headers={"Origin": site.base},
            data={"text": "Cy said this"})
        assert said.ok, await said.text()
        [with_c] = [x["id"] for x in (await (await page.context.request.get(
            "/api/v1/conversations")).json())["conversations"]
            if c["id"] in [m["user_id"] for m in x["members"]]]
        muted = await page.context.request.put(f"/api/v1/conversations/{with_c}/mute",
                                               headers={"Origin": site.base})
        assert muted.ok, await muted.text()
        await open_chat_with(page, b)
        await send(page, "said before the outage")
        await messages(page).filter(has_text="said before the outage").wait_for()
        conversation = parse_qs(urlsplit(page.url).query)["c"][0]

        redis_server.stop()
        await page.reload()
        await page.locator('#chat[data-live="false"]').wait_for()
        assert "not live" in await page.locator("#chat-status").text_content()
        assert await page.locator("#chat-status").get_attribute("data-state") == "connecting"
        await page.locator("#conversation-list").get_by_text("Bo Outage").first.wait_for()
        await messages(page).filter(has_text="said before the outage").wait_for()
        # Muted as on the socket's view: a mark, not an unread count.
        await page.locator("#conversation-list .muted-mark").wait_for()
        # Another conversation of the list opens with its history read over HTTP too.
        listed = page.locator("#conversation-list")
        await listed.get_by_role("button", name="Cy Outage").first.click()
        await messages(page).filter(has_text="Cy said this").wait_for()
        await listed.get_by_role("button", name="Bo Outage").first.click()
        await messages(page).filter(has_text="said before the outage").wait_for()
        # Sent meanwhile: kept by the client (not stored yet, no socket), sent once it connects.
        await send(page, "said during the outage")
        await messages(page).filter(has_text="said during the outage").wait_for()

        redis_server.start()
        await page.locator("#chat-status", has_text="Connected").wait_for(timeout=60_000)
        await page.locator("#chat:not([data-live])").wait_for()  # the socket's read replaced it
        await page.locator("#messages li.pending").first.wait_for(state="detached")  # stored
        # Live: a message sent through the writer's instance reaches the page's socket.
        sent = await page_b.context.request.post(
            f"{first.url}/api/v1/conversations/{conversation}/messages",
            headers={"Origin": first.url}, data={"text": "said after the outage"})
        assert sent.ok, await sent.text()
        await messages(page).filter(has_text="said after the outage").wait_for()
        for text in ("said before the outage", "said during the outage"):
            assert await messages(page).filter(has_text=text).count() == 1
        stored = await page_b.context.request.get(
            f"{first.url}/api/v1/conversations/{conversation}/messages")
        assert [m["text"] for m in (await stored.json())["messages"]] == [
            "said before the outage", "said during the outage", "said after the outage"]
    finally:
        for context in contexts:
            await context.close()


async def test_a_history_read_over_http_that_answers_once_live_is_dropped(
        browser, instances, redis_server):  # noqa: F811
    for port in free_ports(2):
        await instances.start(1, PORT=str(port))
    first, second = instances.running
    site = SimpleNamespace(base=second.url)
    contexts = [await browser.new_context(base_url=second.url) for _ in range(2)]
    try:
        page, page_c = [await context.new_page() for context in contexts]
        a = await api_sign_up(site, page, "Ada Late")
        c = await api_sign_up(site, page_c, "Cy Late")
        await befriend(site, page, a, page_c, c)
        said = await page_c.context.request.post(
            f"/api/messages/send/{a['id']}", headers={"Origin": site.base},
            data={"text": "as first said"})
        assert said.ok, await said.text()
        [conversation] = [x["id"] for x in (await (await page_c.context.request.get(
            "/api/v1/conversations")).json())["conversations"]]
        url = f"{first.url}/api/v1/conversations/{conversation}/messages"
        [seq] = [m["seq"] for m in (await (await page_c.context.request.get(url)).json())[
            "messages"]]
        # Each opening of a conversation ends by asking its members' presence on the socket.
        presence_asked = asyncio.Event()

        def on_frame(frame) -> None:
            if '"presence_of"' in str(frame):
                presence_asked.set()
        page.on("websocket", lambda ws: ws.on("framesent", on_frame))

        redis_server.stop()
        await page.goto("/chat")
        await page.locator('#chat[data-live="false"]').wait_for()
        # The history of the conversation opened while not live is read over HTTP now, but
        # its answer is held until the page is live.
        asked, release = asyncio.Event(), asyncio.Event()

        async def hold(route):
            if asked.is_set():
                return await route.continue_()
            answer = await route.fetch()
            asked.set()
            await release.wait()
            await route.fulfill(response=answer)
        await page.route(f"**/api/v1/conversations/{conversation}/messages*", hold)
        await page.locator("#conversation-list").get_by_role("button", name="Cy Late").first.click()
        await asyncio.wait_for(asked.wait(), 30)
        # After that read, through the writer's instance: the message edited, another sent.
        on_first = {"Origin": first.url}
        edited = await page_c.context.request.patch(f"{url}/{seq}", headers=on_first,
                                                    data={"text": "as edited"})
        assert edited.ok, await edited.text()
        sent = await page_c.context.request.post(url, headers=on_first,
                                                 data={"text": "sent after that read"})
        assert sent.ok, await sent.text()

        redis_server.start()
        await page.locator("#chat:not([data-live])").wait_for(timeout=60_000)
        await messages(page).filter(has_text="as edited").wait_for()
        await messages(page).filter(has_text="sent after that read").wait_for()
        await asyncio.wait_for(presence_asked.wait(), 30)  # the socket's opening of it ended
        presence_asked.clear()
        release.set()
        await asyncio.wait_for(presence_asked.wait(), 30)  # and the held one's
        assert await messages(page).filter(has_text="as edited").count() == 1
        assert await messages(page).filter(has_text="as first said").count() == 0
        assert await messages(page).filter(has_text="sent after that read").count() == 1
    finally:
        for context in contexts:
            await context.close()
