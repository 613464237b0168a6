"""Settings → Two-factor sign-in, and signing in with a code, as a person does it. The
authenticator app is pyotp, computing codes from the secret the page shows."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.browser_ui import sign_in, sign_out, sign_up
from tests.support.http import PASSWORD
from tests.support.two_factor import code_of


async def test_turn_on_sign_in_with_a_code_and_a_recovery_code_then_turn_off(site):
    page = await site.new_page()
    me = await sign_up(page, "Careful Reader")
    await page.goto("/settings")
    await page.get_by_role("link", name="Two-factor sign-in…").click()
    await page.get_by_label("Your password").fill(PASSWORD)
    await page.get_by_role("button", name="Set up two-factor sign-in").click()
    secret = (await page.locator(".totp-secret").inner_text()).strip()
    assert (await page.locator("a.otpauth-link").get_attribute("href")).startswith(
        "otpauth://totp/")
    await page.get_by_label("Code from your app").fill(code_of(secret))
    await page.get_by_role("button", name="Turn on").click()
    await page.get_by_text("They are shown only now.").wait_for()
    codes = [c.strip() for c in await page.locator(".recovery-codes li code").all_inner_texts()]
    assert len(codes) == 10
    await site.screenshot(page, "two-factor-recovery-codes")
    await page.get_by_role("link", name="I have kept them").click()
    assert await page.locator(".codes-left").inner_text() == "10"
    assert codes[0] not in await page.content()  # shown once, never again

    await sign_out(page)
    await sign_in(page, me["email"])
    await page.get_by_role("heading", name="Enter your code").wait_for()
    await page.get_by_label("Code", exact=True).fill("000000" if code_of(secret, 1) != "000000"
                                                     else "111111")
    await page.get_by_role("button", name="Sign in").click()
    await page.get_by_role("alert").get_by_text("The code is wrong or was already used.").wait_for()
    await page.get_by_label("Code", exact=True).fill(code_of(secret, 1))
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/")
    assert await page.get_by_role("banner").get_by_role("button", name="Sign out").count() == 1

    await sign_out(page)
    await sign_in(page, me["email"])
    await page.get_by_label("Code", exact=True).fill(codes[0])
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/")
    await page.goto("/settings/security")
    assert await page.locator(".codes-left").inner_text() == "9"

    await page.locator("#f-off-password").fill(PASSWORD)
    await page.locator("#f-off-code").fill(codes[1])
    await page.get_by_role("button", name="Turn two-factor sign-in off").click()
    await page.get_by_role("status").get_by_text("Two-factor sign-in is off.").wait_for()
    await sign_out(page)
    await sign_in(page, me["email"])
    await page.wait_for_url("**/")  # the password alone again


async def test_export_my_data_from_settings(site):
    page = await site.new_page()
    await sign_up(page, "Leaving Reader")
    await page.goto("/settings")
    await page.get_by_role("link", name="Export your data…").click()
    await page.get_by_role("button", name="Export my data").click()
    await page.get_by_text("Your export is being built.").wait_for()
    assert await site.services.exports.build_next() is not None
    await page.reload()
    link = page.get_by_role("link", name="Download")
    # Reloaded once it is built, the page no longer says it is being built; sizes in kB.
    await expect(link).to_contain_text(" kB)")
    await expect(page.get_by_text("Your export is being built.")).to_have_count(0)
    async with page.expect_download() as download_info:
        await link.click()
    download = await download_info.value
    assert download.suggested_filename.startswith("nirvana-export-")
    await site.screenshot(page, "export-ready")
