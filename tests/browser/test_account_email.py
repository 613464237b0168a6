"""Settings: the nudge to confirm your email, the mailed link, and changing the address."""

from __future__ import annotations

from tests.support.browser_ui import PASSWORD, link_in, mail_text, sign_up


async def test_confirm_the_email_from_the_nudge_then_change_it(site):
    page = await site.new_page()
    me = await sign_up(page, "Careful Reader")
    nudge = page.locator("p.nudge")
    assert me["email"] in await nudge.inner_text()
    await nudge.get_by_role("link", name="Confirm it").click()
    await page.get_by_role("button", name="Send me the confirmation link").click()
    await page.get_by_text("The link is on its way").wait_for()
    [mail] = site.outbox()
    link = link_in(mail_text(mail), site.base + "/verify-email?token=")

    # Opened on another device, signed out: the link alone is enough.
    phone = await site.new_page()
    await phone.goto(link)
    await phone.get_by_role("heading", name="Your email is confirmed").wait_for()
    await page.goto("/")
    assert await page.locator("p.nudge").count() == 0

    await page.goto("/settings")
    await page.get_by_label("New email").fill("careful.new@example.com")
    await page.get_by_label("Your password").fill(PASSWORD)
    await page.get_by_role("button", name="Change email").click()
    await page.get_by_text("Your email is changed.").wait_for()
    assert "careful.new@example.com" in await page.locator("p.nudge").inner_text()
    await phone.goto(link)  # for the old address: no longer valid
    await phone.get_by_role("heading", name="This link does not work").wait_for()
