"""Reading without JavaScript: the feed by pages, a blog, tag and place pages, search, reactions
and comments as plain forms."""

from playwright.async_api import expect

from tests.support.browser_ui import make_blog, make_user, picture_png, sign_in


async def test_feed_pages_by_real_links_without_javascript(site):
    author = await make_user(site.services, "Prolific")
    for n in range(12):
        await make_blog(site.services, author.user.id, f"Post number {n}")
    page = await site.new_page(java_script_enabled=False)
    await page.goto("/")
    titles = await page.locator(".card-title").all_inner_texts()
    assert titles == [f"Post number {n}" for n in range(11, 1, -1)]
    await page.get_by_role("link", name="Older blogs").click()
    assert await page.locator(".card-title").all_inner_texts() == ["Post number 1",
                                                                   "Post number 0"]
    assert await page.get_by_role("link", name="Older blogs").count() == 0


async def test_following_feed_shows_only_followed_authors(site):
    followed = await make_user(site.services, "Followed")
    other = await make_user(site.services, "Other")
    reader = await make_user(site.services, "Reader")
    await make_blog(site.services, followed.user.id, "From the followed")
    await make_blog(site.services, other.user.id, "From someone else")
    await site.services.social.follow(reader.user.id, followed.user.id)
    page = await site.new_page(java_script_enabled=False)
    await sign_in(page, reader.user.email)
    await page.wait_for_url("**/")
    await page.get_by_role("link", name="Following").click()
    await expect(page.locator(".card-title")).to_have_text(["From the followed"], use_inner_text=True)


async def test_blog_page_renders_markdown_with_title_description_tags_and_place(site):
    author = await make_user(site.services, "Writer")
    blog = await make_blog(site.services, author.user.id, "Walking in Lisbon",
                           "# Day one\n\nWe walked **far**. [Map](https://maps.example)",
                           tags=("travel",), place=("Lisbon", "Portugal"),
                           summary="A day on foot.")
    await make_blog(site.services, author.user.id, "Untagged elsewhere")
    page = await site.new_page(java_script_enabled=False)
    await page.goto(f"/blogs/{blog.id}")
    assert await page.title() == "Walking in Lisbon · Nirvana"
    description = page.locator('meta[name="description"]')
    assert await description.get_attribute("content") == "A day on foot."
    assert await page.locator(".prose h1").inner_text() == "Day one"
    assert await page.locator(".prose strong").inner_text() == "far"
    link = page.get_by_role("link", name="Map")
    assert await link.get_attribute("rel") == "nofollow ugc noopener"

    await page.get_by_role("link", name="#travel").first.click()
    assert await page.get_by_role("heading", level=1).inner_text() == "#travel"
    await expect(page.locator(".card-title")).to_have_text(["Walking in Lisbon"], use_inner_text=True)
    await page.get_by_role("link", name="Lisbon, Portugal").first.click()
    await page.wait_for_url("**/places/Portugal/Lisbon")  # title() alone does not wait
    assert await page.title() == "Blogs from Lisbon, Portugal · Nirvana"
    await expect(page.locator(".card-title")).to_have_text(["Walking in Lisbon"], use_inner_text=True)


async def test_search_with_words_and_filters(site):
    author = await make_user(site.services, "Searcher")
    await make_blog(site.services, author.user.id, "Bread at dawn", "Sourdough and patience.",
                    tags=("baking",), place=("Porto", "Portugal"))
    await make_blog(site.services, author.user.id, "Bread in Paris", "Baguette.",
                    tags=("baking",), place=("Paris", "France"))
    await make_blog(site.services, author.user.id, "Cats", "No bread here, only cats.")
    page = await site.new_page(java_script_enabled=False)
    await page.goto("/search")
    await page.get_by_label("Words").fill("bread")
    await page.get_by_role("button", name="Search").click()
    assert len(await page.locator(".card-title").all_inner_texts()) == 3
    await page.locator("summary").click()
    await page.get_by_label("Country").fill("Portugal")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator(".card-title")).to_have_text(["Bread at dawn"], use_inner_text=True)
    await page.get_by_label("Country").fill("")
    await page.get_by_label("Tag", exact=True).fill("baking")
    await page.get_by_label("From").fill("2000-01-01")
    await page.get_by_label("To").fill("2001-01-01")
    await page.get_by_role("button", name="Search").click()
    assert "Nothing found" in await page.locator(".empty").inner_text()
    await page.goto(f"/search?author={author.user.id}&tag=baking")
    await expect(page.get_by_role("search").get_by_role("link", name="Searcher")).to_be_visible()
    assert len(await page.locator(".card-title").all_inner_texts()) == 2


async def test_like_and_comment_with_plain_forms(site):
    author = await make_user(site.services, "Author")
    reader = await make_user(site.services, "Commenter")
    blog = await make_blog(site.services, author.user.id, "Say something")
    page = await site.new_page(java_script_enabled=False)
    await page.goto(f"/blogs/{blog.id}")
    await page.get_by_role("link", name="Sign in to react or comment").click()
    await page.get_by_label("Email").fill(reader.user.email)
    await page.get_by_label("Password", exact=True).fill("correct horse battery")
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"**/blogs/{blog.slug}")
    like = page.get_by_role("button", name="Like")
    await like.click()
    # The reaction is remembered: a later visit shows it chosen, with its count.
    await page.goto(f"/blogs/{blog.id}")
    assert await like.get_attribute("aria-pressed") == "true"
    assert " ".join((await like.inner_text()).split()) == "Like 1"
    # Each kind's mark is drawn, not an emoji: it shows on a machine without an emoji font.
    assert await like.locator("svg").count() == 1
    await expect(page.get_by_text("1 reaction", exact=True).first).to_be_visible()
    # Another kind replaces it; "Remove my reaction" takes it back.
    await page.get_by_role("button", name="Love").click()
    assert await like.get_attribute("aria-pressed") == "false"
    assert await page.get_by_role("button", name="Love").get_attribute("aria-pressed") == "true"
    # The byline counts every kind, not only likes.
    await expect(page.get_by_text("1 reaction", exact=True).first).to_be_visible()
    await page.get_by_role("button", name="Remove my reaction").click()
    assert await page.get_by_role("button", name="Love").get_attribute("aria-pressed") == "false"
    await like.click()
    await page.get_by_label("Your comment").fill("Nice *one*")
    await page.get_by_role("button", name="Comment").click()
    comment = page.locator(".comment")
    assert await comment.locator(".prose").inner_text() == "Nice one"
    assert await comment.locator("em").inner_text() == "one"
    await expect(page.get_by_role("heading", name="1 comment")).to_be_visible()
    await comment.get_by_role("link", name="Edit comment").click()
    await page.get_by_label("Your comment").fill("Nice one, edited")
    await page.get_by_role("button", name="Save comment").click()
    assert await comment.locator(".prose").inner_text() == "Nice one, edited"
    # A delete asks first, as every delete does: "Keep it" keeps it.
    await comment.get_by_role("link", name="Delete comment…").click()
    await page.get_by_role("link", name="Keep it").click()
    await comment.get_by_role("link", name="Delete comment…").click()
    await page.get_by_role("button", name="Delete comment").click()
    assert await page.locator(".comment").count() == 0


async def test_a_blog_page_lives_at_its_slug_and_old_links_move_there(site):
    author = await make_user(site.services, "Slugger")
    blog = await make_blog(site.services, author.user.id, "Crème brûlée à Zürich")
    page = await site.new_page(java_script_enabled=False)
    await page.goto("/")
    await page.get_by_role("link", name="Crème brûlée à Zürich").click()
    await page.wait_for_url("**/blogs/creme-brulee-a-zurich")
    canonical = page.locator('link[rel="canonical"]')
    assert (await canonical.get_attribute("href")).endswith("/blogs/creme-brulee-a-zurich")
    assert (await page.locator('meta[property="og:url"]').get_attribute("content")
            == await canonical.get_attribute("href"))

    # The id link and, after a title change, the old slug both answer 301 to the new slug.
    from nirvana.web import domain
    await site.services.blogs.update(blog.id, author.user.id,
                                     domain.BlogChanges(title="Привет, мир"), blog.updated_at)
    for old in (f"/blogs/{blog.id}", "/blogs/creme-brulee-a-zurich"):
        response = await page.goto(old)
        assert response.request.redirected_from is not None
        assert (await response.request.redirected_from.response()).status == 301
        assert await page.locator("h1").inner_text() == "Привет, мир"
    assert page.url.endswith("/blogs/%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82-%D0%BC%D0%B8%D1%80")


async def test_pages_offer_the_feeds_and_blogs_carry_opengraph_metadata(site):
    author = await make_user(site.services, "Grapher")
    picture = (await site.services.uploads.upload(author.user.id, picture_png(60, 20))).url
    await make_blog(site.services, author.user.id, "Seen & shared", tags=("news",),
                    summary="Short <summary>.", header_image=picture)
    page = await site.new_page(java_script_enabled=False)
    await page.goto("/")
    feed = page.locator('link[rel="alternate"][type="application/rss+xml"]')
    response = await page.request.get(await feed.get_attribute("href"))
    assert response.ok and b"Seen &amp; shared" in await response.body()
    await page.get_by_role("link", name="Seen & shared").click()

    async def meta(name: str) -> str | None:
        return await page.locator(f'meta[property="{name}"]').get_attribute("content")

    assert await meta("og:title") == "Seen & shared"
    assert await meta("og:description") == "Short <summary>."
    assert await meta("og:type") == "article"
    assert await meta("og:image") == site.base + picture
    assert await meta("article:tag") == "news"
    assert await meta("og:url") == await page.locator('link[rel="canonical"]').get_attribute("href")
