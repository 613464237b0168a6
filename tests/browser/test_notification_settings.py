"""The notification settings page (a switch per kind x channel, plain forms), and the
unsubscribe page a mailed link opens signed out."""

from email import message_from_bytes
from email.policy import default as default_policy

from playwright.async_api import expect

from tests.support.browser_chat import (
    HeldRequests,
    SocketFrames,
    api_sign_up,
    befriend,
    open_chat_with,
    send,
)
from tests.support.browser_ui import make_user, sign_in
from tests.support.waiting import wait_until


async def test_switches_are_saved_and_a_kind_off_in_the_app_is_not_told(site):
    ann = await make_user(site.services, "Ann Example")
    bob = await make_user(site.services, "Bob Builder")
    page = await site.new_page(java_script_enabled=False)
    await sign_in(page, bob.user.email)
    await page.wait_for_url("**/")
    await page.goto("/notifications")
    await page.get_by_role("link", name="Notification settings").click()
    await page.wait_for_url("**/settings/notifications")

    followers = page.get_by_label("New followers in the app")
    mentions_by_mail = page.get_by_label("Mentions of you (@username) by email")
    assert await followers.is_checked() and await mentions_by_mail.is_checked()
    await followers.uncheck()
    await mentions_by_mail.uncheck()
    await page.get_by_role("button", name="Save").click()
    await page.get_by_text("Your notification settings are saved").wait_for()
    assert not await page.get_by_label("New followers in the app").is_checked()
    assert not await page.get_by_label("Mentions of you (@username) by email").is_checked()
    assert await page.get_by_label("Friend requests by email").is_checked()

    await site.services.social.follow(ann.user.id, bob.user.id)
    await page.goto("/notifications")
    assert await page.locator(".notification").count() == 0


async def test_a_mailed_unsubscribe_link_works_signed_out(site):
    ann = await make_user(site.services, "Ann Example")
    bob = await make_user(site.services, "Bob Builder")
    await site.services.social.send_friend_request(ann.user.id, bob.user.id)  # Bob is away
    await wait_until(site.outbox, "the friend request mail")
    [path] = site.outbox()
    mail = message_from_bytes(path.read_bytes(), policy=default_policy)
    link = mail["List-Unsubscribe"].strip("<>")

    page = await site.new_page(java_script_enabled=False)
    await page.goto(link)
    assert "Stop the emails about “Friend requests”?" in await page.inner_text("main")
    await page.get_by_role("button", name="Unsubscribe").click()
    await page.get_by_text("Done: no more emails about “Friend requests”").wait_for()
    prefs = await site.services.notifications.preferences.of(bob.user.id)
    assert prefs["friend_request"]["email"] is False

    # The same link cut short by a mail program: the page says what happened and where to go.
    assert (await page.goto(link[:-6])).status == 422
    await expect(page.get_by_role("alert")).to_contain_text("This unsubscribe link does not work")
    await page.get_by_role("link", name="notification settings").wait_for()


async def test_a_muted_conversation_shows_no_unread_badge(site):
    page_a = await site.new_page()
    page_b = await site.new_page()
    a = await api_sign_up(site, page_a, "Ana Reader")
    b = await api_sign_up(site, page_b, "Ben Writer")
    await befriend(site, page_a, a, page_b, b)
    await open_chat_with(page_a, b)
    await send(page_a, "first")
    await open_chat_with(page_b, a)
    await page_b.get_by_role("button", name="Mute").click()
    await expect(page_b.get_by_role("button", name="Unmute")).to_be_visible()

    # Nothing open: the list alone, after a reload, on a slow network. "second" arrives after
    # the list was read and before the page has all it needs to show it (the preferences):
    # the list shown must still end with it, as it does whenever the timing falls.
    frames = SocketFrames(page_b)
    preferences = HeldRequests(page_b, "**/api/v1/notifications/preferences")
    await preferences.hold()
    await page_b.goto("/chat")
    await frames.received('"conversations":')
    await send(page_a, "second")
    await frames.received('"newMessage"', "second")
    await preferences.release()
    item = page_b.locator("#conversation-list li").first
    await expect(item.locator(".muted-mark")).to_be_visible()
    await expect(item.locator(".snippet")).to_have_text("second")
    assert await item.locator(".unread").count() == 0
    await expect(page_b).to_have_title("Chat · Nirvana")

    await page_b.goto("/settings/notifications")
    await page_b.get_by_role("button", name="Unmute").click()
    await page_b.goto("/chat")
    await expect(page_b.locator("#conversation-list li").first.locator(".unread")).to_have_text("1")
