"""The chat page lists every conversation of a member of more than a page of them: the
list asks for the next page when its end is scrolled into view (docs/protocol.md, "Your
conversation list, by page")."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up

MANY = 230


async def test_scrolling_to_the_end_of_the_list_loads_the_rest(site):
    page = await site.new_page(width=1000)
    a = await api_sign_up(site, page, "Ana Many")
    for n in range(MANY):
        await site.services.chat.create_group(a["id"], f"group {n:03}", [])
    await page.goto("/chat")
    items = page.locator("#conversation-list li[data-conversation]")
    await expect(items).to_have_count(200)  # the first page, newest first
    await expect(items.first.locator(".name")).to_have_text(f"group {MANY - 1:03}")
    more = page.locator("#conversation-list li.more-conversations")
    await more.scroll_into_view_if_needed()
    await expect(items).to_have_count(MANY)
    await expect(more).to_have_count(0)  # nothing more to ask for
    await expect(items.last.locator(".name")).to_have_text("group 000")
