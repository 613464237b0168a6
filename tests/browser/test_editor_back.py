"""The new-blog form sent again after Back: the first post stored the blog, its answer was
lost (an error page instead) or seen (the new blog), and the page Back shows, with the
typed text, still carries the first post's key, so sending it lands on that blog: from the
browser's kept copy of /write (no script needed), or by editor.js when the page is fetched
again. A blog written afterwards from a new /write is a new one."""

import re

import pytest
from playwright.async_api import expect

from tests.support.browser_ui import make_user, sign_in

POST_TO = re.compile(r"/write(\?|$)")  # the form's action, whatever its query
# With the editor's script and without it (the form alone).
scripted = pytest.mark.parametrize("script", [True, False], ids=["js", "no-js"])


async def writer(site, name, script=True):
    me = await make_user(site.services, name)
    page = await site.new_page(java_script_enabled=script)
    await sign_in(page, me.user.email)
    await page.wait_for_url("**/")
    return me, page


async def write(page, title, body):
    await page.goto("/write")
    await page.get_by_label("Title").fill(title)
    await page.get_by_label("Body", exact=True).fill(body)


async def titles(site, me):
    mine, _ = await site.services.blogs.page(me.user.id, 1, 50)
    return sorted(b.title for b in mine), mine


async def back_and_send_again(page, title):
    """Back to the editor, showing what was typed, and Publish once more."""
    await page.go_back()
    await page.wait_for_url("**/write")
    await expect(page.get_by_label("Title")).to_have_value(title)
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/blogs/*")


@scripted
async def test_back_from_an_error_page_and_send_lands_on_the_stored_blog(site, script):
    me, page = await writer(site, "Unlucky writer", script)

    async def stored(route):
        # The blog is stored; its redirect leads to an error page instead of the blog (a
        # redirect is not routed, so a page the server has not: its 404 stands for the 503
        # of an instance that stopped between the POST and the GET of the new blog).
        answer = await route.fetch(max_redirects=0)
        assert answer.status == 303
        await route.fulfill(status=303, headers={"Location": "/blogs/0-gone"})

    await write(page, "Stored once", "Even if the answer was lost.")
    await page.route(POST_TO, stored)
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/blogs/0-gone")
    assert (await titles(site, me))[0] == ["Stored once"]
    await page.unroute(POST_TO)

    await back_and_send_again(page, "Stored once")
    names, mine = await titles(site, me)
    assert names == ["Stored once"]
    assert page.url.endswith(f"/blogs/{mine[0].slug}")
    site.problems[:] = [p for p in site.problems if "/blogs/0-gone" not in p]


@scripted
async def test_back_from_the_new_blog_and_send_lands_on_it_and_a_new_form_writes_anew(
        site, script):
    me, page = await writer(site, "Second-sender", script)
    await write(page, "Seen once", "The new blog was shown.")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/blogs/*")

    await back_and_send_again(page, "Seen once")
    names, mine = await titles(site, me)
    assert names == ["Seen once"]
    assert page.url.endswith(f"/blogs/{mine[0].slug}")

    # A new /write in the same tab is a new form: even the same text is a new blog.
    await write(page, "Seen once", "The new blog was shown.")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/blogs/*")
    names, mine = await titles(site, me)
    assert names == ["Seen once", "Seen once"]


async def test_back_to_an_editor_fetched_anew_keeps_the_key_by_script(site):
    """Without its cached copy (evicted, or no cache: a routed page has none) Back fetches
    the editor again with a new key; the script puts back the key the same text was sent
    with. Changed text is a new blog."""
    me, page = await writer(site, "Uncached writer")
    await page.route("**/*", lambda route: route.continue_())
    await write(page, "Cached nowhere", "Fetched again on Back.")
    rendered = await page.locator("input[name='idempotency_key']").input_value()
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/blogs/*")

    await page.go_back()
    await page.wait_for_url("**/write")
    await expect(page.get_by_label("Title")).to_have_value("Cached nowhere")
    assert await page.locator("input[name='idempotency_key']").input_value() != rendered
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/blogs/*")
    names, mine = await titles(site, me)
    assert names == ["Cached nowhere"] and page.url.endswith(f"/blogs/{mine[0].slug}")

    await page.go_back()
    await page.wait_for_url("**/write")
    await page.get_by_label("Title").fill("Cached nowhere, again")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/blogs/*")
    assert (await titles(site, me))[0] == ["Cached nowhere", "Cached nowhere, again"]
