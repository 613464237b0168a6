"""Scenarios across the web client: two people in two browser contexts, hostile text that
must stay text, a phone-width page, and the screenshots the README shows."""

from playwright.async_api import expect

from tests.support.images import png
from tests.support.browser_ui import make_blog, make_user, picture_png, sign_in, sign_up

XSS = ('<img src=x onerror="window.pwned=1"><script>window.pwned=1</script>'
       '[link](javascript:window.pwned=1)')
NAME_XSS = '<img src=x onerror="window.pwned=1">'


async def test_a_blog_with_an_image_is_found_liked_and_commented_by_someone_else(
        site, tmp_path):
    writer = await site.new_page()
    await sign_up(writer, "Wendy Writer")
    await writer.goto("/write")
    await writer.get_by_label("Title").fill("Harbour at dusk")
    await writer.get_by_label("Body", exact=True).fill("The boats came in slowly.\n")
    picture = tmp_path / "harbour.png"
    picture.write_bytes(png(6, 4))
    await writer.get_by_label("Add an image").set_input_files(str(picture))
    await writer.get_by_text("Added harbour.png.").wait_for()
    await writer.get_by_label("Tags").fill("sea")
    await writer.get_by_role("button", name="Publish").click()
    await writer.wait_for_url("**/blogs/*")
    blog_url = writer.url

    reader = await site.new_page()  # another context: another person's cookies
    await sign_up(reader, "Rita Reader")
    assert await reader.locator(".card-title").first.inner_text() == "Harbour at dusk"
    await reader.get_by_role("link", name="Search", exact=True).click()
    await reader.get_by_label("Words").fill("boats")
    await reader.get_by_role("button", name="Search").click()
    await reader.get_by_role("link", name="Harbour at dusk").click()
    assert reader.url == blog_url
    assert await reader.locator(".prose img").evaluate("i => i.naturalWidth") == 6
    await reader.get_by_role("button", name="Like").click()
    await reader.get_by_label("Your comment").fill("Lovely light.")
    await reader.get_by_role("button", name="Comment").click()
    await reader.locator(".comment", has_text="Lovely light.").wait_for()

    await writer.reload()
    await expect(writer.get_by_text("1 reaction", exact=True).first).to_be_visible()
    comment = writer.locator(".comment")
    await expect(comment.get_by_role("link", name="Rita Reader")).to_be_visible()
    assert "Lovely light." in await comment.inner_text()


async def test_xss_payloads_in_a_blog_a_comment_and_a_name_render_as_text(site):
    villain = await make_user(site.services, NAME_XSS)
    blog = await make_blog(site.services, villain.user.id, "Innocent title " + XSS[:40],
                           "Body: " + XSS, summary=XSS[:200])
    await site.services.blogs.comment(blog.id, villain.user.id, "Comment: " + XSS)
    page = await site.new_page()
    await sign_in(page, villain.user.email)
    await page.wait_for_url("**/")
    for path in ("/", f"/blogs/{blog.id}", f"/people/{villain.user.id}", "/people?q=img",
                 f"/blogs/{blog.id}/edit", "/settings"):
        await page.goto(path)
        await page.wait_for_load_state("load")
        assert await page.evaluate("() => window.pwned") is None, path
        assert await page.locator("script:not([src])").count() == 0, path
        assert await page.locator("[onerror]").count() == 0, path
        assert await page.locator("a[href^='javascript']").count() == 0, path
    await page.goto(f"/blogs/{blog.id}")
    assert NAME_XSS in await page.locator(".byline").first.inner_text()
    assert "<script>" in await page.locator(".prose").first.inner_text()
    # The edit page's live preview renders it through the server too.
    await page.goto(f"/blogs/{blog.id}/edit")
    await page.get_by_label("Body", exact=True).fill("Again: " + XSS)
    await page.locator("#preview", has_text="Again:").wait_for()
    assert await page.evaluate("() => window.pwned") is None
    # The broken <img src=x> in the text is not an element, so nothing failed to load.


async def test_pages_at_phone_width_have_no_horizontal_scroll(site):
    author = await make_user(site.services, "A rather long display name for a small phone")
    blog = await make_blog(site.services, author.user.id,
                           "A title long enough to wrap several times on a phone screen",
                           "```\n" + "x" * 300 + "\n```\n\n" + "word " * 200 +
                           "\n\n| a | b | c | d | e |\n|---|---|---|---|---|\n"
                           "| " + " | ".join(["cellcontent" * 3] * 5) + " |\n"
                           "\nhttps://a.very.long.example/" + "path/" * 30,
                           tags=("one", "two", "three"), place=("Reykjavík", "Iceland"))
    page = await site.new_page(width=375, height=740)
    await sign_in(page, author.user.email)
    await page.wait_for_url("**/")
    for path in ("/", f"/blogs/{blog.id}", f"/people/{author.user.id}", "/write",
                 f"/blogs/{blog.id}/edit", "/search", "/settings", "/signin", "/people"):
        await page.goto(path)
        width = await page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, (path, width)


async def test_screenshots_of_the_main_pages(site, tmp_path):
    alice = await make_user(site.services, "Alice Martin")
    bob = await make_user(site.services, "Bob Osei")
    page = await site.new_page(width=1100, height=800)
    await sign_in(page, alice.user.email)
    await page.wait_for_url("**/")
    urls = [(await site.services.uploads.upload(alice.user.id, picture_png(600, 200, hue))).url
            for hue in (0, 60, 120)]
    await page.goto("/settings")
    await page.get_by_label("About you").fill("I write about **walking** and bread.")
    await page.get_by_label("Status").fill("Out walking")
    await page.get_by_role("button", name="Save profile").click()
    texts = [
        ("Morning walk along the river", "The fog lifted at eight. *Herons* everywhere.",
         ("walking", "river"), ("Lyon", "France")),
        ("A loaf a day", "Notes on sourdough. Flour, water, salt, **time**.",
         ("bread",), None),
        ("Night trains of Europe", "Sleeping across borders, a short guide.\n\n"
         "## Before you go\n\nBook a *couchette* early; bring:\n\n- earplugs\n- water\n"
         "- a good book\n\n> The best view is the one at 5 a.m. over the Alps.\n\n"
         "More on [the routes](https://example.org/routes).",
         ("travel",), ("Vienna", "Austria")),
    ]
    for (title, body, tags, place), url in zip(texts, urls):
        await make_blog(site.services, alice.user.id, title, body, tags=tags, place=place,
                        summary=body.split(".")[0] + ".", header_image=url)
    await site.services.social.follow(bob.user.id, alice.user.id)
    first = (await site.services.blogs.feed(None, None, 1)).blogs[0]
    await site.services.blogs.like(first.id, bob.user.id)
    await site.services.blogs.comment(first.id, bob.user.id, "Great photos, *thanks*!")

    await page.goto("/")
    await site.screenshot(page, "feed")
    await page.goto(f"/blogs/{first.id}")
    await site.screenshot(page, "blog")
    await page.goto(f"/blogs/{first.id}/edit")
    await page.locator("#preview h1, #preview p").first.wait_for()
    await site.screenshot(page, "editor")
    await page.goto(f"/people/{alice.user.id}")
    await site.screenshot(page, "profile")
    phone = await site.new_page(width=375, height=740)
    await phone.goto("/")
    await site.screenshot(phone, "feed-phone")
