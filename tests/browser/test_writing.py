"""Writing in the browser: the editor's live preview, image upload by picking and by
dropping, place suggestions, drafts and publishing, the stale-edit choice, deleting."""

import base64

from playwright.async_api import expect

from tests.support.images import png
from tests.support.browser_ui import make_blog, make_user, sign_in


# Whether leaving the page now would ask first: the editor's beforeunload handler cancels
# the event. (A real prompt needs a user gesture, which a dispatched drop is not.)
LEAVING_ASKS = """() => {
    const leaving = new Event("beforeunload", { cancelable: true });
    window.dispatchEvent(leaving);
    return leaving.defaultPrevented; }"""


async def leaving_asks(page) -> bool:
    """Whether leaving the page now asks first. The editor is a module script, which runs
    once the page is parsed: a page just shown may not have its handler yet."""
    await page.wait_for_load_state("domcontentloaded")
    return await page.evaluate(LEAVING_ASKS)


async def writer_page(site, name="Writer"):
    me = await make_user(site.services, name)
    page = await site.new_page()
    await sign_in(page, me.user.email)
    await page.wait_for_url("**/")
    return me, page


async def test_write_with_preview_picked_image_tags_and_place_then_publish(site, tmp_path):
    other = await make_user(site.services, "Earlier traveller")
    await make_blog(site.services, other.user.id, "Old trip", place=("Lisbon", "Portugal"))
    me, page = await writer_page(site)
    await page.get_by_role("link", name="Write", exact=True).click()
    await page.get_by_label("Title").fill("Tiles of Lisbon")
    await page.get_by_label("Body", exact=True).fill("# Azulejos\n\nBlue and **white**.")
    preview = page.locator("#preview")
    await preview.locator("h1", has_text="Azulejos").wait_for()
    assert await preview.locator("strong").inner_text() == "white"

    picture = tmp_path / "tiles.png"
    picture.write_bytes(png(4, 4))
    await page.get_by_label("Add an image").set_input_files(str(picture))
    await page.get_by_text("Added tiles.png.").wait_for()
    assert "![tiles](/media/" in await page.get_by_label("Body", exact=True).input_value()
    assert (await page.get_by_label("Header image URL").input_value()).startswith("/media/")
    await preview.locator("img").wait_for()

    await page.get_by_label("Tags").fill("travel, tiles")
    await page.get_by_label("City").press_sequentially("Lis")
    await page.locator("#places option[value='Lisbon']").wait_for(state="attached")
    await page.get_by_label("City").fill("Lisbon")
    await page.get_by_label("City").dispatch_event("input")
    assert await page.get_by_label("Country").input_value() == "Portugal"
    await page.get_by_role("button", name="Publish").click()

    await page.wait_for_url("**/blogs/*")
    await expect(page.get_by_role("heading", name="Tiles of Lisbon")).to_be_visible()
    assert await page.locator(".prose img").evaluate("i => i.naturalWidth") == 4
    await expect(page.get_by_role("link", name="#tiles")).to_be_visible()
    await page.goto("/")
    assert (await page.locator(".card-title").all_inner_texts())[0] == "Tiles of Lisbon"


async def test_an_image_dropped_on_the_editor_is_uploaded(site):
    _, page = await writer_page(site)
    await page.goto("/write")
    assert not await leaving_asks(page)
    data = base64.b64encode(png(3, 3)).decode()
    transfer = await page.evaluate_handle("""(data) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const t = new DataTransfer();
        t.items.add(new File([bytes], "dropped.png", {type: "image/png"}));
        return t; }""", data)
    await page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    await page.get_by_text("Added dropped.png.").wait_for()
    assert "![dropped](/media/" in await page.get_by_label("Body", exact=True).input_value()
    assert await leaving_asks(page)  # no typing, but the image is an unsaved change


async def test_draft_then_publish_and_delete(site):
    me, page = await writer_page(site, "Drafter")
    reader = await site.new_page(java_script_enabled=False)
    await page.goto("/write")
    await page.get_by_label("Title").fill("Half an idea")
    await page.get_by_label("Body", exact=True).fill("To be continued.")
    await page.get_by_role("button", name="Save as draft").click()
    await page.wait_for_url("**/blogs/*")
    badge = page.locator(".byline .badge", has_text="Draft")
    await expect(badge).to_be_visible()
    # The byline's "· " separator goes before the badge, not inside its pill.
    assert await badge.evaluate("b => getComputedStyle(b, '::before').content") == "none"
    url = page.url
    assert (await reader.goto(url)).status == 404
    await reader.goto("/")
    assert await reader.locator(".card-title").count() == 0

    # Found again later among the author's drafts on their profile.
    await page.goto(f"/people/{me.user.id}")
    await page.get_by_role("region", name="Your drafts").get_by_role(
        "link", name="Half an idea").click()
    await page.get_by_label("Body", exact=True).fill("Now finished.")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url(url)
    assert await page.locator(".prose").inner_text() == "Now finished."
    assert (await reader.goto(url)).status == 200

    await page.get_by_role("link", name="Edit").click()
    await page.get_by_role("link", name="Delete…").click()
    await page.get_by_role("button", name="Delete for good").click()
    await page.wait_for_url(f"**/people/{me.user.id}?done=deleted")
    await expect(page.get_by_role("status")).to_have_text("Your blog is deleted.")
    assert (await reader.goto(url)).status == 404


async def test_a_stale_edit_offers_reload_or_overwrite(site):
    me, first = await writer_page(site, "Two Tabs")
    blog = await make_blog(site.services, me.user.id, "Shared", "Version one.")
    second = await first.context.new_page()
    await first.goto(f"/blogs/{blog.id}/edit")
    await second.goto(f"/blogs/{blog.id}/edit")
    await first.get_by_label("Body", exact=True).fill("Written in the first tab.")
    await first.get_by_role("button", name="Publish").click()
    await first.wait_for_url(f"**/blogs/{blog.slug}")

    await second.get_by_label("Body", exact=True).fill("Written in the second tab.")
    await second.get_by_role("button", name="Publish").click()
    alert = second.locator("#conflict")
    assert "changed since you opened it" in await alert.inner_text()
    await alert.get_by_role("button", name="Overwrite with my version").click()
    await second.wait_for_url(f"**/blogs/{blog.slug}")
    assert await second.locator(".prose").inner_text() == "Written in the second tab."

    # The first tab is stale now: it chooses to reload, and sees the second tab's text.
    await first.goto(f"/blogs/{blog.id}/edit")
    await second.goto(f"/blogs/{blog.id}/edit")
    await second.get_by_role("button", name="Publish").click()
    await first.get_by_label("Body", exact=True).fill("Lost on purpose.")
    await first.get_by_role("button", name="Publish").click()
    reload = first.locator("#conflict").get_by_role("link", name="Reload the saved version")
    # Its notice already says the text is lost: following it does not ask again. (The first
    # click is kept from navigating, so the page can be asked.)
    await expect(reload).to_be_visible()  # the conflict's page, not the one it replaced
    assert await leaving_asks(first)
    await reload.evaluate("a => a.addEventListener('click', (e) => e.preventDefault(), "
                          "{ once: true })")
    await reload.click()
    assert not await leaving_asks(first)
    await reload.click()
    assert await first.get_by_label("Body", exact=True).input_value() == \
        "Written in the second tab."


async def test_editor_errors_keep_what_was_typed(site):
    _, page = await writer_page(site)
    await page.goto("/write")
    await page.get_by_label("Title").fill("No body")
    await page.get_by_label("City").fill("Porto")
    await page.get_by_role("button", name="Publish").click()
    assert "Give both the city and the country" in await page.get_by_role("alert").inner_text()
    assert await page.get_by_label("Title").input_value() == "No body"
    assert await leaving_asks(page)  # shown again, not stored


async def test_schedule_a_blog_for_later_then_it_appears_at_its_time(site):
    from datetime import datetime, timedelta, timezone

    from nirvana.domain.blogs.service import Blogs
    from nirvana.storage.postgres.blog_comments import PgCommentRepository
    from nirvana.storage.postgres.blogs import PgBlogRepository

    me, page = await writer_page(site, "Planner")
    await page.goto("/write")
    await page.get_by_label("Title").fill("Tomorrow's news")
    await page.get_by_label("Body", exact=True).fill("Not yet.")
    at = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=5)
    await page.get_by_label("Publish at (UTC)").fill(at.strftime("%Y-%m-%dT%H:%M"))
    await page.get_by_role("button", name="Schedule").click()
    await page.wait_for_url("**/blogs/tomorrow-s-news")
    # Its page says so in the byline: "Planner · [Scheduled] for <date>", the "· " outside
    # the badge's pill.
    badge = page.locator(".byline .badge", has_text="Scheduled")
    await expect(badge).to_be_visible()
    assert await badge.evaluate("b => getComputedStyle(b, '::before').content") == "none"
    assert await badge.evaluate(
        "b => getComputedStyle(b.parentElement, '::before').content") == '"· "'
    assert f"Scheduled for {at.strftime('%-d %b %Y')}" in await page.locator(
        ".byline").inner_text()
    await page.goto(f"/people/{me.user.id}")
    assert f"scheduled for {at.strftime('%-d %b %Y %H:%M')} UTC" in await page.locator(
        ".drafts").inner_text()

    stranger = await site.new_page(java_script_enabled=False)
    assert (await stranger.goto("/blogs/tomorrow-s-news")).status == 404
    await stranger.goto("/")
    assert "Tomorrow's news" not in await stranger.locator("main").inner_text()

    class SixMinutesLater:  # the server's clock when the time has come
        def now(self) -> datetime:
            return datetime.now(timezone.utc) + timedelta(minutes=6)

    pool = site.services.pool
    later = Blogs(blogs=PgBlogRepository(pool), comments=PgCommentRepository(pool),
                  clock=SixMinutesLater())
    assert [b.title for b in await later.publish_due()] == ["Tomorrow's news"]
    # The server's own publisher moves the version its page cache compares against; this
    # stand-in, with its later clock, runs beside the server and must say it wrote.
    site.services.blogs.authors_removed()
    await stranger.goto("/")
    assert "Tomorrow's news" in await stranger.locator(".card-title").all_inner_texts()


async def test_a_friends_only_blog_is_read_by_friends_and_not_by_others(site):
    me, page = await writer_page(site, "Private")
    friend = await make_user(site.services, "Close friend")
    await site.services.social.send_friend_request(friend.user.id, me.user.id)
    await site.services.social.accept_friend_request(me.user.id, friend.user.id)
    await page.goto("/write")
    await page.get_by_label("Title").fill("Only for friends")
    await page.get_by_label("Body", exact=True).fill("Between us.")
    await page.get_by_label("Who can read it").select_option("friends")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/blogs/only-for-friends")
    await page.goto(f"/people/{me.user.id}")
    await page.get_by_role("link", name="Only for friends").first.click()
    await page.get_by_role("link", name="Edit").click()
    assert await page.get_by_label("Who can read it").input_value() == "friends"

    reader = await site.new_page(java_script_enabled=False)
    await sign_in(reader, friend.user.email)
    await reader.wait_for_url("**/")
    assert "Only for friends" in await reader.locator(".card-title").all_inner_texts()
    stranger = await site.new_page(java_script_enabled=False)
    assert (await stranger.goto("/blogs/only-for-friends")).status == 404
    await stranger.goto("/")
    assert "Only for friends" not in await stranger.locator("main").inner_text()
