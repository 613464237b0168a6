"""Accounts in the browser: sign up, in and out, a reset through the mailed link, settings."""

import pytest
from playwright.async_api import expect

from nirvana.web import domain
from tests.support.images import png
from tests.support.browser_ui import PASSWORD, link_in, mail_text, sign_in, sign_out, sign_up
from tests.support.waiting import wait_until


async def test_sign_up_sign_out_and_sign_in_again(site):
    page = await site.new_page()
    me = await sign_up(page, "Ada Lovelace")
    header = page.get_by_role("banner")
    await expect(header.get_by_text("Ada Lovelace")).to_be_visible()
    await sign_out(page)
    await expect(header.get_by_role("link", name="Sign in")).to_be_visible()

    await sign_in(page, me["email"], "not the password")
    assert await page.get_by_role("alert").inner_text() == "Wrong email or password."
    assert await page.get_by_label("Email").input_value() == me["email"]
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/")
    await expect(header.get_by_text("Ada Lovelace")).to_be_visible()


async def test_sign_up_errors_are_shown_beside_their_fields(site):
    page = await site.new_page()
    await page.goto("/signup")
    await page.get_by_label("Name", exact=True).fill("Short Password")
    await page.get_by_label("Email").fill("short@example.com")
    await page.get_by_label("Password", exact=True).fill("abc")
    await page.get_by_role("button", name="Sign up").click()
    await expect(page.locator("#f-password-error")).to_have_text(
        "Password must be at least 8 characters")
    # The form's message points to the field, not the API's words for it ("password: ...").
    await expect(page.get_by_role("alert")).to_have_text("Please fix the fields marked below.")
    assert await page.get_by_label("Email").input_value() == "short@example.com"


async def test_password_reset_through_the_link_in_the_outbox_mail(site):
    page = await site.new_page()
    me = await sign_up(page)
    await sign_out(page)
    await page.goto("/signin")
    await page.get_by_role("link", name="Forgot your password?").click()
    await page.get_by_label("Email").fill(me["email"])
    await page.get_by_role("button", name="Mail me a link").click()
    await expect(page.get_by_role("status")).to_be_visible()
    await wait_until(site.outbox, "the reset mail")  # written after the response
    link = link_in(mail_text(site.outbox()[-1]), site.base + "/reset-password?token=")
    # Opened where nothing is cached yet: the stylesheet it loads names the page as its
    # Referer by origin only, so the token reaches no proxy's log (deploy/nginx.conf).
    page = await site.new_page()
    stylesheets = []
    page.on("request", lambda r: stylesheets.append(r) if r.resource_type == "stylesheet"
            else None)
    await page.goto(link)
    assert stylesheets, "the reset page loaded no stylesheet"
    for request in stylesheets:
        assert (await request.all_headers()).get("referer") == site.base + "/", request.url
    await page.get_by_label("New password").fill("a brand new secret")
    await page.get_by_label("Repeat it").fill("a brand new secret")
    await page.get_by_role("button", name="Set password").click()
    await page.wait_for_url("**/signin?done=reset")
    await sign_in(page, me["email"], "a brand new secret")
    await page.wait_for_url("**/")
    await expect(page.get_by_role("banner").get_by_text(me["name"])).to_be_visible()
    # The link is single-use.
    await page.goto(link)
    await page.get_by_label("New password").fill("another new secret")
    await page.get_by_label("Repeat it").fill("another new secret")
    await page.get_by_role("button", name="Set password").click()
    assert "invalid, used or expired" in await page.get_by_role("alert").inner_text()


async def test_change_password_and_edit_profile_with_avatar(site, tmp_path):
    page = await site.new_page()
    me = await sign_up(page, "Grace")
    await page.get_by_role("link", name="Settings").click()
    await page.get_by_label("Name", exact=True).fill("Grace Hopper")
    await page.get_by_label("Status").fill("Debugging")
    await page.get_by_label("About you").fill("Wrote the first compiler.")
    await page.get_by_role("button", name="Save profile").click()
    assert await page.get_by_role("status").inner_text() == "Your profile is saved."
    await expect(page.get_by_role("banner").get_by_text("Grace Hopper")).to_be_visible()
    assert await page.get_by_label("About you").input_value() == "Wrote the first compiler."

    picture = tmp_path / "me.png"
    picture.write_bytes(png(8, 8))
    await page.get_by_label("New picture").set_input_files(str(picture))
    await page.get_by_role("button", name="Upload picture").click()
    assert await page.get_by_role("status").inner_text() == "Your picture is saved."
    src = await page.locator("header img.avatar").get_attribute("src")
    assert src.startswith("/media/")
    assert await page.locator("header img.avatar").evaluate("i => i.naturalWidth") == 8

    await page.get_by_label("Current password").fill(PASSWORD)
    await page.get_by_label("New password", exact=True).fill("grace's new secret")
    await page.get_by_label("Repeat the new password").fill("grace's new secret")
    await page.get_by_role("button", name="Change password").click()
    assert "password is changed" in await page.get_by_role("status").inner_text()
    await sign_out(page)
    await sign_in(page, me["email"], "grace's new secret")
    await page.wait_for_url("**/")
    await expect(page.get_by_role("banner").get_by_text("Grace Hopper")).to_be_visible()


async def test_sign_in_by_keyboard_alone(site):
    page = await site.new_page()
    me = await sign_up(page, "Keys Only")
    await sign_out(page)
    await page.goto("/signin")
    # Tab from the top of the page to the email field, as a keyboard user would.
    await page.keyboard.press("Tab")
    for _ in range(20):
        if await page.evaluate("() => document.activeElement.name") == "email":
            break
        await page.keyboard.press("Tab")
    await page.keyboard.type(me["email"])
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/")
    await expect(page.get_by_role("banner").get_by_text("Keys Only")).to_be_visible()


async def test_an_expired_access_cookie_is_renewed_from_the_refresh_cookie(site):
    page = await site.new_page()
    me = await sign_up(page, "Long Reader")
    cookies = {c["name"]: c for c in await page.context.cookies()}
    assert cookies["jwt"]["httpOnly"] and cookies["jwt"]["sameSite"] == "Lax"
    assert cookies["refresh_token"]["httpOnly"] and cookies["refresh_token"]["sameSite"] == "Strict"
    # The access token runs out (here: replaced by one that no longer verifies).
    await page.context.add_cookies([{**cookies["jwt"], "value": "expired.token.value"}])
    await page.goto("/settings")
    assert await page.get_by_label("Name", exact=True).input_value() == me["name"]
    renewed = {c["name"]: c for c in await page.context.cookies()}
    assert renewed["jwt"]["value"] not in ("expired.token.value", cookies["jwt"]["value"])
    assert renewed["refresh_token"]["value"] != cookies["refresh_token"]["value"]
    assert site.services.accounts.authenticate(renewed["jwt"]["value"])
    # No token is ever readable by the page's script.
    assert await page.evaluate("() => document.cookie") == ""
    assert await page.evaluate("() => localStorage.length") == 0


async def test_sign_out_ends_the_session_on_the_server(site):
    page = await site.new_page()
    await sign_up(page)
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    await sign_out(page)
    with pytest.raises(domain.AuthenticationError):
        site.services.accounts.authenticate(cookies["jwt"])
    with pytest.raises(domain.AuthenticationError):
        await site.services.accounts.refresh(cookies["refresh_token"])


GOING_BACK = "After you sign in, you go back to the page you came from."


async def test_a_page_that_needs_sign_in_says_so_and_comes_back_after(site):
    me = await sign_up(await site.new_page())
    page = await site.new_page()
    await page.goto("/settings")
    await page.wait_for_url("**/signin?next=%2Fsettings")
    await expect(page.get_by_text(GOING_BACK)).to_be_visible()
    await page.get_by_label("Email").fill(me["email"])
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/settings")


async def test_sign_in_of_its_own_or_with_another_sites_next_goes_home(site):
    me = await sign_up(await site.new_page())
    page = await site.new_page()
    await page.goto("/signin")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_text(GOING_BACK)).to_have_count(0)

    await page.goto("/signin?next=//evil.example")
    await expect(page.get_by_text(GOING_BACK)).to_have_count(0)
    await page.get_by_label("Email").fill(me["email"])
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{site.base}/")
