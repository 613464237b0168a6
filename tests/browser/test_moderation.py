"""Moderation in the browser: a reader reports a blog, a moderator removes it from the
queue, the reader is told; a suspended user's open chat closes."""

from __future__ import annotations

from playwright.async_api import expect

from nirvana.admin import set_role
from nirvana.domain.moderation.entities import Action, Role, Target, TargetKind
from nirvana.domain.moderation.service import ActionRequest
from tests.support.browser_chat import api_sign_up, befriend, open_chat_with
from tests.support.browser_ui import make_blog, make_user, sign_in, sign_up


async def test_a_report_handled_by_a_moderator_is_told_to_the_reporter(site, server_urls):
    author = await make_user(site.services, "Spammy Author")
    blog = await make_blog(site.services, author.user.id, "Cheap watches here")
    moderator = await make_user(site.services, "Mo Derator")
    await set_role(server_urls[0], moderator.user.email, Role.MODERATOR)

    reader = await site.new_page()
    await sign_up(reader, "Careful Reader")
    await reader.goto(f"/blogs/{blog.id}")
    await reader.get_by_role("link", name="Report this blog").click()
    await reader.get_by_label("Reason").fill("This is spam, selling watches.")
    await reader.get_by_role("button", name="Send the report").click()
    await reader.get_by_text("Thank you. A moderator will look at it").wait_for()

    mod = await site.new_page()
    await sign_in(mod, moderator.user.email)
    await mod.wait_for_url("**/")
    await mod.get_by_role("navigation", name="Main").get_by_role("link",
                                                                 name="Moderation").click()
    case = mod.locator("li.case", has_text="Cheap watches here")
    await expect(case).to_contain_text("This is spam, selling watches.")
    await site.screenshot(mod, "moderation-queue")
    remove = case.locator("form[data-action=remove_blog]")
    await remove.get_by_placeholder("Reason (for the audit log)").fill("spam")
    await remove.get_by_role("button", name="Remove blog").click()
    await mod.get_by_text("Done, and written to the audit log.").wait_for()
    await expect(mod.get_by_text("No open cases.")).to_be_visible()

    # The reporter's bell counts it on the next page; the list says what was done.
    await reader.reload()
    await expect(reader.locator("[data-bell] .count")).to_have_text("1 unread")
    await reader.goto("/notifications")
    await reader.get_by_text("Your report was handled: a moderator removed the blog").wait_for()
    response = await reader.goto(f"/blogs/{blog.id}")
    assert response.status == 404


async def test_a_suspended_users_open_chat_closes(site, server_urls):
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Soon Suspended")
    b = await api_sign_up(site, page_b, "Their Friend")
    await befriend(site, page_a, a, page_b, b)
    await open_chat_with(page_a, b)
    moderator = await make_user(site.services, "Mo Derator")
    await set_role(server_urls[0], moderator.user.email, Role.MODERATOR)

    await site.services.moderation.act(moderator.user.id, ActionRequest(
        Action.SUSPEND, Target(TargetKind.USER, id=a["id"]), "harassment"))
    # The socket closes (4001), renewing the session is refused, and the page goes to
    # sign-in, which tells why.
    await page_a.wait_for_url("**/signin?next=%2Fchat", timeout=10_000)
    site.problems[:] = [p for p in site.problems if "/api/v1/user/refresh: 401" not in p]
    await sign_in(page_a, a["email"])
    await page_a.get_by_text("This account is suspended for good.").wait_for()


async def test_the_admins_role_form_starts_at_the_persons_role(site, server_urls):
    admin = await make_user(site.services, "Ada Admin")
    moderator = await make_user(site.services, "Mo Derator")
    reader = await make_user(site.services, "Rea Der")
    await set_role(server_urls[0], admin.user.email, Role.ADMIN)
    await set_role(server_urls[0], moderator.user.email, Role.MODERATOR)
    page = await site.new_page()
    await sign_in(page, admin.user.email)
    await page.wait_for_url("**/")

    await page.goto(f"/people/{moderator.user.id}")
    await expect(page.get_by_label("Role")).to_have_value("moderator")
    await page.goto(f"/people/{reader.user.id}")
    await expect(page.get_by_label("Role")).to_have_value("user")

    # Only an admin gets the list: a moderator and a user see none on the same profiles.
    for who, profile in ((moderator, reader), (reader, moderator)):
        other = await site.new_page()
        await sign_in(other, who.user.email)
        await other.wait_for_url("**/")
        await other.goto(f"/people/{profile.user.id}")
        await expect(other.get_by_role("heading", name=profile.user.name)).to_be_visible()
        await expect(other.get_by_label("Role")).to_have_count(0)
