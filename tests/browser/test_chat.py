"""The chat page in two browser windows: live messages, typing, receipts, drops, restarts."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up, befriend, messages, open_chat_with, send


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
    await expect(item.locator(".snippet")).to_have_text("hello Ben")
    await item.get_by_role("button").click()
    await expect(messages(page_b)).to_have_text(["hello Ben"])
    # Opening it reads it: Ana's tick turns to read without a reload.
    await expect(mine.locator("[data-tick]")).to_have_attribute("data-tick", "read")

    # Typing shows in the other window and clears when the message is sent.
    await page_b.get_by_label("Message", exact=True).press_sequentially("hi An")
    await expect(page_a.locator("#typing")).to_have_text("Ben Writer is typing…")
    await page_b.get_by_label("Message", exact=True).press_sequentially("a")
    await page_b.get_by_label("Message", exact=True).press("Enter")
    await expect(page_a.locator("#typing")).to_have_text("")
    await expect(messages(page_a)).to_have_text(["hello Ben", "hi Ana"])
    # The incoming message is announced to screen readers.
    await expect(page_a.locator("#announcer")).to_have_text("Ben Writer: hi Ana")
    await site.screenshot(page_a, "chat")
