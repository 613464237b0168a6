"""The chat page lists every conversation of a member of more than a page of them: the
list asks for the next page when its end is scrolled into view, or when a keyboard user
reaches its "More conversations" button, whose focus then goes on to the first conversation
the page brought; a link to one beyond the first page reads it by id, lists it and opens it,
and a link to one the user is not in leaves the address with a word on the status line
(docs/protocol.md, "Your conversation list, by page", "One conversation by id")."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up

MANY = 230
NAMES = {f"group {n:03}" for n in range(MANY)}


async def many_groups(site, page, name: str) -> None:
    a = await api_sign_up(site, page, name)
    for n in range(MANY):
        await site.services.chat.create_group(a["id"], f"group {n:03}", [])
    await page.goto("/chat")


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


async def test_a_link_to_a_conversation_the_user_is_not_in_says_it_is_not_available(site):
    page = await site.new_page(width=1000)
    a = await api_sign_up(site, page, "Nia Nolink")
    b = await api_sign_up(site, await site.new_page(), "Bo Elsewhere")
    await site.services.chat.create_group(a["id"], "mine", [])
    other = await site.services.chat.create_group(b["id"], "theirs", [])
    await page.goto(f"/chat?c={other.id}")
    await expect(page.locator("#chat-status")).to_contain_text("not available")
    await expect(page).to_have_url(f"{site.base}/chat")
    await expect(page.get_by_role("heading", name="theirs", exact=True)).to_have_count(0)
    items = page.locator("#conversation-list li[data-conversation]")
    await expect(items).to_have_count(1)
