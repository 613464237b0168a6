"""What a stranger's tour of the web client found, walked once on one server: a settings
error in view, Back and the keyboard in chat, a new user's empty chat, muted conversations
by name, and moderation that names people (a hostile name shown as text)."""

from __future__ import annotations

from playwright.async_api import expect

from nirvana.admin import set_role
from nirvana.domain.moderation.entities import Role
from tests.support.browser_chat import api_sign_up, befriend, open_chat_with, send
from tests.support.browser_ui import make_user, sign_in

HOSTILE = '<img src=x onerror=alert(1)>"Eve'


async def test_the_tour_findings(site, server_urls):
    page_a, page_b = await site.new_page(), await site.new_page(width=390, height=844)
    a = await api_sign_up(site, page_a, "Ann Tour")
    b = await api_sign_up(site, page_b, HOSTILE)
    await befriend(site, page_a, a, page_b, b)

    # MEDIUM 1: a password form's error, far down the settings page, is focused and in view.
    await page_b.goto("/settings")
    await page_b.get_by_label("Current password").fill("correct horse battery")
    await page_b.get_by_label("New password", exact=True).fill("a new long one")
    await page_b.get_by_label("Repeat the new password").fill("not the same")
    await page_b.get_by_role("button", name="Change password").click()
    alert = page_b.get_by_role("alert")
    await expect(alert).to_be_focused()
    await expect(alert).to_be_in_viewport()

    # MEDIUM 3 and 4: from the keyboard, Enter opens the conversation with the caret in the
    # composer; Back (the phone's) returns to the list, and the page is still the chat. A
    # message that redraws the list leaves focus on the item that had it.
    await open_chat_with(page_b, a)
    await send(page_b, "hello from the phone")
    await page_b.goto("/chat")
    item = page_b.locator("#conversation-list .conversation-item").first
    await item.focus()
    sent = await page_a.context.request.post(f"/api/messages/send/{b['id']}",
                                             headers={"Origin": site.base},
                                             data={"text": "still there?"})
    assert sent.ok, await sent.text()
    await expect(item).to_contain_text("still there?")
    await expect(item).to_be_focused()
    await page_b.keyboard.press("Enter")
    await expect(page_b.get_by_label("Message", exact=True)).to_be_focused()
    await page_b.go_back()
    await expect(page_b.locator("#conversation")).to_be_hidden()
    await expect(page_b.locator("#conversation-list")).to_be_visible()
    assert page_b.url.endswith("/chat")

    # MEDIUM 2: a muted conversation is listed by name, and its link opens it.
    await item.click()
    await page_b.get_by_role("button", name="Mute").click()
    await expect(page_b.get_by_role("button", name="Unmute")).to_be_visible()
    await page_b.goto("/settings/notifications")
    await page_b.locator(".muted-conversations").get_by_role("link", name="Ann Tour").click()
    title = page_b.get_by_role("heading", name="Ann Tour", exact=True)
    await expect(title).to_be_visible()
    conversation = page_b.url.split("?c=")[1]
    # A reload keeps the history as it was: one Back to the list, the next leaves the chat.
    await page_b.reload()
    await expect(title).to_be_visible()
    await page_b.go_back()
    await expect(page_b.locator("#conversation-list")).to_be_visible()
    await page_b.go_back()
    await expect(page_b).to_have_url(f"{site.base}/settings/notifications")
    # A group created with a conversation open (on a wide screen, where the list stays in
    # view) has an entry of its own, kept by a reload: Back shows the list, the next Back
    # leaves the chat.
    await page_a.goto("/settings")
    await page_a.goto(f"/chat?c={conversation}")
    await expect(page_a.locator("#conversation")).to_be_visible()
    await page_a.get_by_role("button", name="New group").click()
    await page_a.get_by_label("Name").fill("Tour group")
    await page_a.locator("#group-candidates input[type=checkbox]").first.check()
    await page_a.get_by_role("button", name="Create").click()
    group_title = page_a.get_by_role("heading", name="Tour group", exact=True)
    await expect(group_title).to_be_visible()
    await page_a.reload()
    await expect(group_title).to_be_visible()
    await page_a.go_back()
    await expect(page_a.locator("#conversation")).to_be_hidden()
    await page_a.go_back()
    await expect(page_a).to_have_url(f"{site.base}/settings")
    # Older links name it after a #; a malformed one names nothing and breaks nothing.
    await page_b.goto(f"/chat#{conversation}")
    await expect(title).to_be_visible()
    await page_b.goto("/chat#%E0")
    await expect(item).to_be_visible()  # drawn in the same task the hash is read in
    await expect(page_b.locator("#chat-status")).to_have_text("Connected.")

    # MEDIUM 8: a new user with no friends is told where to find some, in the list and in
    # the New group dialog, which offers no Create for a group of one.
    newcomer = await site.new_page()
    await api_sign_up(site, newcomer, "New Comer")
    await newcomer.goto("/chat")
    await expect(newcomer.locator("#no-friends")).to_contain_text("No friends yet")
    await expect(newcomer.locator("#no-friends").get_by_role("link", name="People")).to_be_visible()
    await newcomer.get_by_role("button", name="New group").click()
    dialog = newcomer.get_by_role("dialog")
    await expect(dialog).to_contain_text("You have no friends to add yet")
    await expect(dialog.get_by_role("button", name="Create")).to_be_hidden()

    # LOW 13: without script, the chat page is the noscript note alone: no eternal
    # "Connecting…", no buttons that do nothing. (Playwright's no-script mode still parses
    # <noscript> as script-on browsers do, so the note itself is not looked for.)
    plain = await site.new_page(java_script_enabled=False,
                                storage_state=await newcomer.context.storage_state())
    await plain.goto("/chat")
    await expect(plain.get_by_text("Connecting…")).to_have_count(0)
    await expect(plain.get_by_role("button", name="New group")).to_be_hidden()

    # MEDIUM 10: a reported chat message names its writer and reporter, linked, as text.
    await page_a.goto(f"/chat?c={conversation}")
    await page_a.locator("#messages li", has_text="hello from the phone").wait_for()
    seq = await page_a.locator("#messages li", has_text="hello from the phone").get_attribute(
        "data-seq")
    await page_a.goto(f"/report?kind=message&conversation_id={conversation}&seq={seq}")
    await page_a.get_by_label("Reason").fill("rude")
    await page_a.get_by_role("button", name="Send the report").click()
    await page_a.get_by_text("Thank you").wait_for()
    moderator = await make_user(site.services, "Mo Derator")
    await set_role(server_urls[0], moderator.user.email, Role.ADMIN)
    mod = await site.new_page(width=390, height=844)
    await sign_in(mod, moderator.user.email)
    await mod.wait_for_url("**/")
    await mod.goto("/moderation")
    case = mod.locator("li.case", has_text="hello from the phone")
    heading = case.get_by_role("heading")
    await expect(heading).to_contain_text(f"Chat message by {HOSTILE}")
    await expect(heading.get_by_role("link", name=HOSTILE)).to_have_attribute(
        "href", f"/people/{b['id']}")
    await expect(case.get_by_role("link", name="Ann Tour")).to_have_attribute(
        "href", f"/people/{a['id']}")
    assert await mod.locator("img[src=x]").count() == 0
    await site.screenshot(mod, "tour-moderation-phone")
    remove = case.locator("form[data-action=remove_message]")
    await remove.get_by_placeholder("Reason (for the audit log)").fill("rude")
    await remove.get_by_role("button", name="Remove message").click()
    await mod.get_by_text("Done, and written to the audit log.").wait_for()
    await mod.goto("/moderation?status=actioned")
    await expect(mod.locator("li.case .outcome")).to_contain_text(
        "Actioned: removed the message, by Mo Derator")
    # The audit log says it in words, and scrolls in its own box on a phone.
    await mod.goto("/moderation/audit")
    row = mod.locator("tr[data-entry]").first
    await expect(row).to_contain_text("Removed the message")
    await expect(row.get_by_role("link", name="Mo Derator")).to_be_visible()
    width = await mod.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    await site.screenshot(mod, "tour-audit-phone")


async def test_on_a_phone_a_friends_message_menu_stays_on_screen(site):
    page_a, page_b = await site.new_page(), await site.new_page(width=390, height=844)
    a = await api_sign_up(site, page_a, "Ann Menu")
    b = await api_sign_up(site, page_b, "Bob Phone")
    await befriend(site, page_a, a, page_b, b)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    # A line long enough to put the ⋯ near the right edge of the screen.
    await send(page_a, "are we still on for the walk along the river?")
    item = page_b.locator("#messages li", has_text="along the river")
    await item.get_by_label("Message actions").click()
    menu = item.locator(".menu")
    await expect(menu.get_by_role("button", name="Reply")).to_be_visible()
    box = await menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box


async def test_on_a_phone_a_groups_name_keeps_its_line(site):
    page_a, page_b = await site.new_page(width=390, height=844), await site.new_page()
    a = await api_sign_up(site, page_a, "Ann Group")
    b = await api_sign_up(site, page_b, "Bob Member")
    await befriend(site, page_a, a, page_b, b)
    await page_a.goto("/chat")
    await page_a.get_by_role("button", name="New group").click()
    await page_a.get_by_label("Name").fill("Walkers")
    await page_a.locator("#group-candidates input[type=checkbox]").first.check()
    await page_a.get_by_role("button", name="Create").click()
    title = page_a.get_by_role("heading", name="Walkers", exact=True)
    await expect(page_a.get_by_role("button", name="Group settings")).to_be_visible()
    # One line, not a word broken beside the Back, Mute and Group settings buttons.
    lines = await title.evaluate(
        "h => h.getBoundingClientRect().height / parseFloat(getComputedStyle(h).lineHeight)")
    assert lines < 1.5, lines
