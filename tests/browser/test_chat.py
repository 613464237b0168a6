"""The chat page in two browser windows: live messages, typing, receipts, drops, restarts."""

from __future__ import annotations

import asyncio

from playwright.async_api import expect

from tests.support.images import png
from tests.support.writes import many_writes
from tests.support.browser_chat import (
    HeldRequests,
    SocketFrames,
    api_sign_up,
    befriend,
    messages,
    open_chat_with,
    restart_server,
    send,
)

# One test sends 60 messages over HTTP in a row, faster than a person would.
settings_with_many_writes = many_writes()


async def two_friends(site, *, width: int = 1000):
    page_a = await site.new_page(width=width)
    page_b = await site.new_page(width=width)
    a = await api_sign_up(site, page_a, "Ana Reader")
    b = await api_sign_up(site, page_b, "Ben Writer")
    await befriend(site, page_a, a, page_b, b)
    return page_a, a, page_b, b


async def test_two_friends_chat_live_with_typing_and_read_ticks(site):
    page_a, a, page_b, b = await two_friends(site)
    await open_chat_with(page_a, b)
    await send(page_a, "hello Ben")
    # Shown at once, then confirmed by its ack.
    mine = page_a.locator("#messages li.mine").last
    await expect(mine.locator(".text")).to_have_text("hello Ben")
    await expect(mine.locator("[data-tick]")).to_have_attribute("data-tick", "sent")

    # Ben's list shows the conversation live, with its unread badge and last message.
    await page_b.goto("/chat")
    item = page_b.locator("#conversation-list li").first
    await expect(item.locator(".unread")).to_have_text("1")
    await expect(page_b).to_have_title("(1) Chat · Nirvana")  # conversations with unread
    await expect(item.locator(".snippet")).to_have_text("hello Ben")
    # Ben's page received it without opening it: delivered, not read.
    await expect(mine.locator("[data-tick]")).to_have_attribute("data-tick", "delivered")
    await item.get_by_role("button").click()
    await expect(messages(page_b)).to_have_text(["hello Ben"])
    # Opening it reads it: Ana's tick turns to read without a reload.
    await expect(mine.locator("[data-tick]")).to_have_attribute("data-tick", "read")
    await expect(page_b).to_have_title("Chat · Nirvana")

    # Typing shows in the other window and clears when the message is sent.
    await page_b.get_by_label("Message", exact=True).press_sequentially("hi An")
    await expect(page_a.locator("#typing")).to_have_text("Ben Writer is typing…")
    await page_b.get_by_label("Message", exact=True).press_sequentially("a")
    await page_b.get_by_label("Message", exact=True).press("Enter")
    await expect(page_a.locator("#typing")).to_have_text("")
    await expect(messages(page_a)).to_have_text(["hello Ben", "hi Ana"])
    # The incoming message is announced to screen readers.
    await expect(page_a.locator("#announcer")).to_have_text("Ben Writer: hi Ana")

    # Presence: Ben's state and, once he leaves, when he was last seen.
    status_line = page_a.locator("#conversation-sub")
    await expect(status_line).to_have_text("online")
    await page_b.get_by_label("Show me as").select_option("away")
    await expect(status_line).to_have_text("away")
    await page_b.close()
    await expect(status_line).to_contain_text("last seen")
    await expect(page_a.locator("#conversation-list .dot")).to_have_class("dot offline")


async def test_offline_reader_gets_every_message_once_in_order_and_its_own_send_goes_out(site):
    page_a, a, page_b, b = await two_friends(site)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    await send(page_a, "one")
    await expect(messages(page_b)).to_have_text(["one"])

    await page_b.context.set_offline(True)
    await expect(page_b.locator("#chat-status")).to_contain_text("Connection lost")
    # Written while offline: shown at once as sending, kept until the link is back.
    await send(page_b, "sent while offline")
    await expect(page_b.locator("#messages li.pending .text")).to_have_text("sent while offline")
    for text in ("two", "three", "four"):
        await send(page_a, text)
    await expect(messages(page_a)).to_have_text(["one", "two", "three", "four"])

    await page_b.context.set_offline(False)
    await expect(page_b.locator("#chat-status")).to_have_text("Reconnected. You are up to date.")
    await expect(messages(page_b)).to_have_text(
        ["one", "two", "three", "four", "sent while offline"])
    await expect(page_b.locator("#messages li.pending")).to_have_count(0)
    await expect(messages(page_a)).to_have_text(
        ["one", "two", "three", "four", "sent while offline"])
    # The retried send was stored once: a reload shows the same history.
    await page_a.reload()
    await expect(messages(page_a)).to_have_text(
        ["one", "two", "three", "four", "sent while offline"])
    forgive_failed_reconnects(site)


async def test_both_windows_resume_after_a_server_restart(site, stores, settings, web_socket):
    page_a, a, page_b, b = await two_friends(site)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    await send(page_a, "before the restart")
    await expect(messages(page_b)).to_have_text(["before the restart"])

    await restart_server(site, stores, settings, web_socket)
    await expect(page_a.locator("#chat-status")).to_have_text("Reconnected. You are up to date.")
    await expect(page_b.locator("#chat-status")).to_have_text("Reconnected. You are up to date.")
    await send(page_b, "after the restart")
    await send(page_a, "still here")
    expected = ["before the restart", "after the restart", "still here"]
    await expect(messages(page_a)).to_have_text(expected)
    await expect(messages(page_b)).to_have_text(expected)
    forgive_failed_reconnects(site)


def forgive_failed_reconnects(site) -> None:
    # Chromium logs each refused reconnect attempt (server down, network off): expected here.
    site.problems[:] = [p for p in site.problems if "WebSocket connection to" not in p]


XSS = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'


async def test_markup_in_a_message_and_a_display_name_is_shown_as_text(site):
    page_a = await site.new_page()
    page_b = await site.new_page()
    a = await api_sign_up(site, page_a, "Ana Reader")
    b = await api_sign_up(site, page_b, XSS)
    await befriend(site, page_a, a, page_b, b)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    await send(page_b, XSS)
    await expect(messages(page_a)).to_have_text([XSS])
    await expect(page_a.locator("#conversation-list .name")).to_have_text([XSS])
    await expect(page_a.locator("#friend-list")).to_contain_text(XSS)
    await expect(page_a.locator("#announcer")).to_have_text(f"{XSS}: {XSS}")
    group = await page_b.context.request.post(
        "/api/v1/conversations", headers={"Origin": site.base},
        data={"kind": "group", "name": XSS, "member_ids": [a["id"]]})
    assert group.status == 201
    await expect(page_a.locator("#conversation-list .name")).to_have_text([XSS, XSS])
    assert await page_a.locator("#chat img").count() == 0
    assert await page_a.evaluate("() => window.pwned") is None
    assert await page_b.evaluate("() => window.pwned") is None


async def test_a_message_is_sent_by_keyboard_alone(site):
    page_a, a, page_b, b = await two_friends(site)
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    # Tab from the top of the page to Ben in the friend list, open the chat, type, Enter.
    for _ in range(40):
        await page_a.keyboard.press("Tab")
        focused = await page_a.evaluate("() => document.activeElement.textContent")
        if focused.startswith("Ben Writer"):
            break
    else:
        raise AssertionError("Ben's chat button is not reachable by Tab")
    await page_a.keyboard.press("Enter")
    await page_a.get_by_role("heading", name="Ben Writer", exact=True).wait_for()
    await page_a.get_by_label("Message", exact=True).focus()
    await page_a.keyboard.type("typed, not clicked")
    await page_a.keyboard.press("Enter")
    await expect(messages(page_a)).to_have_text(["typed, not clicked"])
    await expect(page_a.locator("#messages li.mine [data-tick]")).to_have_attribute(
        "data-tick", "sent")  # acknowledged: stored by the server


async def test_the_chat_page_fits_a_phone_without_horizontal_scroll(site):
    page_a, a, page_b, b = await two_friends(site, width=375)
    await open_chat_with(page_a, b)
    await send(page_a, "a long word: " + "w" * 120)
    await expect(messages(page_a)).to_have_count(1)
    overflow = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert await page_a.evaluate(overflow) == 0
    await site.screenshot(page_a, "chat-phone")
    await page_a.get_by_role("button", name="Back").click()
    await expect(page_a.locator("#conversation-list li")).to_have_count(1)
    assert await page_a.evaluate(overflow) == 0


def accept_dialogs(page) -> None:
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))


async def message_action(page, text: str, action: str) -> None:
    item = page.locator("#messages li", has=page.locator(".text").get_by_text(text, exact=True))
    await item.get_by_label("Message actions").click()
    await item.get_by_role("button", name=action, exact=True).click()


async def test_reply_edit_react_and_delete_reach_the_other_window(site):
    page_a, a, page_b, b = await two_friends(site)
    accept_dialogs(page_a)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    await send(page_a, "lunch at noon?")
    await expect(messages(page_b)).to_have_text(["lunch at noon?"])

    await message_action(page_b, "lunch at noon?", "Reply")
    await expect(page_b.locator("#composer-context")).to_contain_text("Replying to Ana Reader")
    await send(page_b, "yes")
    reply = page_a.locator("#messages li", has_text="yes")
    await expect(reply.locator(".quote")).to_have_text("Ana Reader: lunch at noon?")

    # A menu stays open while messages arrive and the list is redrawn.
    item = page_a.locator("#messages li", has=page_a.locator(".text").get_by_text(
        "lunch at noon?", exact=True))
    await item.get_by_label("Message actions").click()
    await send(page_b, "one more thing")
    await expect(messages(page_a)).to_have_text(["lunch at noon?", "yes", "one more thing"])
    await item.get_by_role("button", name="Edit", exact=True).click()
    box = page_a.get_by_label("Message", exact=True)
    await expect(box).to_have_value("lunch at noon?")
    await box.fill("lunch at one?")
    await box.press("Enter")
    edited = page_b.locator("#messages li").first
    await expect(edited.locator(".text")).to_have_text("lunch at one?")
    await expect(edited.locator(".meta")).to_contain_text("edited")

    await message_action(page_b, "lunch at one?", "Like")  # the 👍, by its name
    await expect(page_a.locator("#messages li").first.locator(".reaction")).to_have_text("👍 1")
    await site.screenshot(page_a, "chat")

    await message_action(page_a, "lunch at one?", "Delete for everyone")
    await expect(page_b.locator("#messages li").first.locator(".text")).to_have_text(
        "This message was deleted.")
    await message_action(page_a, "yes", "Delete for me")
    await expect(messages(page_a)).to_have_text(["This message was deleted.", "one more thing"])
    await expect(messages(page_b)).to_have_text(
        ["This message was deleted.", "yes", "one more thing"])


async def test_an_image_search_and_earlier_pages(site):
    page_a, a, page_b, b = await two_friends(site)
    for n in range(1, 61):
        sent = await page_b.context.request.post(
            f"/api/messages/send/{a['id']}", headers={"Origin": site.base},
            data={"text": f"note {n}"})
        assert sent.status == 201
    await open_chat_with(page_a, b)
    await expect(messages(page_a)).to_have_count(50)
    await expect(messages(page_a).first).to_have_text("note 11")
    await page_a.get_by_role("button", name="Load earlier messages").click()
    await expect(messages(page_a)).to_have_count(60)
    await expect(messages(page_a).first).to_have_text("note 1")
    await expect(page_a.get_by_role("button", name="Load earlier messages")).to_be_hidden()

    await page_a.set_input_files("#attach", files=[
        {"name": "dot.png", "mimeType": "image/png", "buffer": png(8, 8)}])
    image = page_a.locator("#messages li.mine img")
    await expect(image).to_have_count(1)
    assert (await image.get_attribute("src")).startswith("/media/")

    await page_a.get_by_label("Search messages").fill("note 4")
    await page_a.get_by_role("button", name="Search", exact=True).click()
    hits = page_a.locator("#search-list li")
    await expect(hits).to_have_count(1)
    await expect(hits.first).to_contain_text("note 4")


async def test_a_group_is_created_named_managed_and_left(site):
    page_a, a, page_b, b = await two_friends(site)
    page_c = await site.new_page()
    c = await api_sign_up(site, page_c, "Cleo Third")
    await befriend(site, page_a, a, page_c, c)
    accept_dialogs(page_b)
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    await page_b.goto("/chat")
    await page_b.locator("#chat-status", has_text="Connected").wait_for()

    await page_a.get_by_role("button", name="New group").click()
    dialog = page_a.get_by_role("dialog")
    await dialog.get_by_label("Name").fill("Trip")
    await dialog.get_by_label("Ben Writer").check()
    await dialog.get_by_role("button", name="Create").click()
    await page_a.get_by_role("heading", name="Trip", exact=True).wait_for()
    await send(page_a, "who packs the tent?")
    group = page_b.locator("#conversation-list li", has_text="Trip")
    await expect(group.locator(".snippet")).to_have_text("Ana Reader: who packs the tent?")

    await page_a.get_by_role("button", name="Group settings").click()
    await dialog.get_by_label("Name").fill("Trip 2027")
    await dialog.get_by_label("Cleo Third").check()
    await dialog.get_by_role("button", name="Save").click()
    await expect(page_a.locator("#conversation-sub")).to_contain_text("3 members")
    await page_a.get_by_role("button", name="Group settings").click()
    ben = dialog.locator("li.member", has_text="Ben Writer")
    await ben.get_by_role("button", name="Make admin").click()
    await expect(ben.locator(".role")).to_have_text("admin")
    await dialog.get_by_role("button", name="Close").click()
    await expect(page_b.locator("#conversation-list .name")).to_have_text(["Trip 2027"])

    await page_b.locator("#conversation-list li", has_text="Trip 2027").get_by_role("button").click()
    await page_b.get_by_role("button", name="Group settings").click()
    await page_b.get_by_role("dialog").get_by_role("button", name="Leave group").click()
    await expect(page_b.locator("#conversation-list li")).to_have_count(0)
    await expect(page_a.locator("#conversation-sub")).to_contain_text("2 members")


async def test_a_reconnect_while_the_list_loads_leaves_one_whole_list(site):
    # The socket drops and comes back while the list is still being read (its preferences
    # on a slow network), so a second read starts before the first ends; a message arrives
    # meanwhile. Both reads end, the page says nothing failed, and the list ends with it.
    page_a, a, page_b, b = await two_friends(site)
    await open_chat_with(page_a, b)
    await send(page_a, "first")
    frames = SocketFrames(page_b)
    preferences = HeldRequests(page_b, "**/api/v1/notifications/preferences")
    await preferences.hold()
    await page_b.goto("/chat")
    await frames.received('"conversations":')
    await page_b.context.set_offline(True)
    await expect(page_b.locator("#chat-status")).to_contain_text("Connection lost")
    await page_b.context.set_offline(False)
    await expect(page_b.locator("#chat-status")).to_have_text("Reconnected. You are up to date.")
    await send(page_a, "second")
    await frames.received('"newMessage"', "second")
    await preferences.release()
    item = page_b.locator("#conversation-list li").first
    await expect(item.locator(".snippet")).to_have_text("second")
    await expect(item.locator(".unread")).to_have_text("2")
    await expect(page_b.locator("#chat-status")).to_have_text("Reconnected. You are up to date.")


async def test_a_refused_send_goes_out_on_try_again_once_the_block_is_lifted(site):
    page_a, a, page_b, b = await two_friends(site)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    blocked = await page_b.context.request.post(f"/api/v1/blocks/{a['id']}",
                                                headers={"Origin": site.base})
    assert blocked.ok, await blocked.text()
    await send(page_a, "after the block")
    try_again = page_a.get_by_role("button", name="Try again")
    await expect(try_again).to_have_count(1)
    await expect(page_a.locator("#messages li", has_text="after the block")).to_contain_text(
        "Not sent")

    lifted = await page_b.context.request.delete(f"/api/v1/blocks/{a['id']}",
                                                 headers={"Origin": site.base})
    assert lifted.ok, await lifted.text()
    await befriend(site, page_a, a, page_b, b)
    await try_again.click()
    await expect(messages(page_b)).to_have_text(["after the block"])
    await expect(try_again).to_have_count(0)
    await expect(messages(page_a)).to_have_text(["after the block"])



class DroppedHistory:
    """The page's socket closes when it asks for a history, once per `arm()`: the command
    fails with the connection, and the client reconnects on its own."""

    def __init__(self) -> None:
        self.armed = False
        self.dropped = asyncio.Event()

    def arm(self) -> None:
        self.armed = True
        self.dropped.clear()

    async def route(self, ws) -> None:
        server = ws.connect_to_server()

        def from_page(message) -> None:
            if self.armed and '"history"' in str(message):
                self.armed = False
                self.dropped.set()
                asyncio.ensure_future(ws.close())
            else:
                server.send(message)

        ws.on_message(from_page)

    async def wait(self) -> None:
        async with asyncio.timeout(10):
            await self.dropped.wait()


async def test_a_history_lost_with_the_connection_is_read_again_on_reconnect(site):
    page_a, a, page_b, b = await two_friends(site)
    await open_chat_with(page_a, b)
    await send(page_a, "before the drop")
    history = DroppedHistory()
    await page_b.route_web_socket("**/ws*", history.route)

    # Lost while the page loads with the conversation open (the first read): that read
    # ends, but the reconnect reads everything again.
    history.arm()
    await page_b.goto(page_a.url.replace(site.base, ""))
    await history.wait()
    await expect(messages(page_b)).to_have_text(["before the drop"])
    await expect(page_b.locator("#chat-status")).to_contain_text("Reconnected")

    # Lost when the conversation is opened from the list: the page says so, and the
    # reconnect reads it.
    await page_b.goto("/chat")
    await page_b.locator("#chat-status", has_text="Connected").wait_for()
    history.arm()
    await page_b.locator("#conversation-list li").first.get_by_role("button").click()
    await history.wait()
    await expect(messages(page_b)).to_have_text(["before the drop"])
    await expect(page_b.locator("#chat-status")).to_contain_text("Reconnected")
