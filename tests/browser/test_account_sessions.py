"""Settings: where you are signed in, and signing the other devices out."""

from __future__ import annotations

import pytest

from nirvana.web import domain
from tests.support.browser_ui import sign_in, sign_up, signed_in_devices

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1")


def drop_the_phones_refused_renewal(site) -> None:
    # The phone had the feed open, whose socket ("N new posts") is closed when its session
    # ends; its renewal is refused (401), which is how that page learns it is signed out.
    site.problems[:] = [p for p in site.problems if not p.endswith("/api/v1/user/refresh: 401")]


async def test_sign_out_every_other_device_from_settings(site):
    laptop = await site.new_page(user_agent=FIREFOX)
    me = await sign_up(laptop, "Travelling Reader")
    phone = await site.new_page(user_agent=IPHONE, width=390, height=800)
    await sign_in(phone, me["email"])
    await phone.wait_for_url("**/")
    phone_cookie = {c["name"]: c["value"] for c in await phone.context.cookies()}["jwt"]

    assert await signed_in_devices(laptop) == ["Safari on iPhone", "Firefox on Linux"]
    assert await laptop.title() == "Settings · Nirvana"
    mine = laptop.locator("li.session", has_text="Firefox on Linux")
    await mine.get_by_text("This device").wait_for()
    await laptop.get_by_role("button", name="Sign out all other sessions").click()
    await laptop.get_by_text("Every other session is signed out.").wait_for()
    assert await signed_in_devices(laptop) == ["Firefox on Linux"]

    with pytest.raises(domain.AuthenticationError):
        site.services.accounts.authenticate(phone_cookie)
    await phone.goto("/settings")
    await phone.wait_for_url("**/signin**")
    drop_the_phones_refused_renewal(site)
    await site.screenshot(laptop, "settings-sessions")


async def test_sign_out_one_device_by_its_own_button(site):
    laptop = await site.new_page(user_agent=FIREFOX)
    me = await sign_up(laptop)
    phone = await site.new_page(user_agent=IPHONE)
    await sign_in(phone, me["email"])
    await phone.wait_for_url("**/")
    await laptop.goto("/settings")
    other = laptop.locator("li.session", has_text="Safari on iPhone")
    await other.get_by_role("button", name="Sign out").click()
    await laptop.get_by_text("That session is signed out.").wait_for()
    assert await signed_in_devices(laptop) == ["Firefox on Linux"]
    await phone.goto("/settings")
    await phone.wait_for_url("**/signin**")
    drop_the_phones_refused_renewal(site)
