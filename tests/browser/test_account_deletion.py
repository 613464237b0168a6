"""Settings: deleting your account, confirmed by your password."""

from __future__ import annotations

from tests.support.browser_ui import make_blog, sign_in, sign_up


async def test_delete_my_account_after_a_wrong_password(site):
    page = await site.new_page()
    me = await sign_up(page, "Leaving Reader")
    user = await site.services.accounts.users.credentials_by_email(me["email"])
    blog = await make_blog(site.services, user.user.id, "Farewell post")
    await page.goto("/settings")
    await page.get_by_role("link", name="Delete your account…").click()
    await page.wait_for_url("**/settings/delete")

    await page.get_by_label("Your password").fill("not my password")
    await page.get_by_role("button", name="Delete my account for good").click()
    await page.get_by_text("That is not your password: nothing was deleted.").wait_for()
    await site.screenshot(page, "delete-account")

    await page.get_by_label("Your password").fill(me["password"])
    await page.get_by_role("button", name="Delete my account for good").click()
    await page.wait_for_url("**/signin?done=deleted")
    await page.get_by_text("Your account is deleted. Goodbye.").wait_for()
    assert {c["name"] for c in await page.context.cookies()} & {"jwt", "refresh_token"} == set()

    reader = await site.new_page()
    answer = await reader.goto(f"/people/{user.user.id}")
    assert answer.status == 404
    answer = await reader.goto(f"/blogs/{blog.id}")
    assert answer.status == 404
    await sign_in(reader, me["email"], me["password"])
    await reader.get_by_role("alert").wait_for()
    assert "/signin" in reader.url
