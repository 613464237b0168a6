"""The reaction picker with JavaScript (by keyboard, without a reload) and the feed's
"N new posts" fed by live `blog.published` frames."""

from tests.support.browser_ui import make_blog, make_user, sign_in
from tests.support.waiting import wait_until


async def test_the_reaction_picker_works_by_keyboard_without_a_reload(site):
    author = await make_user(site.services, "Picker Author")
    reader = await make_user(site.services, "Picker Reader")
    blog = await make_blog(site.services, author.user.id, "React to me")
    page = await site.new_page()
    await sign_in(page, reader.user.email)
    await page.wait_for_url("**/")
    await page.goto(f"/blogs/{blog.id}")
    await page.evaluate("window.sameDocument = true")  # gone if the page reloads

    like = page.get_by_role("button", name="Like")
    love = page.get_by_role("button", name="Love")
    await like.focus()
    await page.keyboard.press("ArrowRight")  # one Tab stop; the arrows move inside
    assert await love.evaluate("b => b === document.activeElement")
    await page.keyboard.press("Enter")
    await page.locator("[data-kind=love][aria-pressed=true]").wait_for()
    assert " ".join((await love.inner_text()).split()) == "Love 1"
    await page.keyboard.press("End")
    clear = page.get_by_role("button", name="Remove my reaction")
    assert await clear.evaluate("b => b === document.activeElement")
    await page.keyboard.press("Space")
    await page.locator("[data-kind=love][aria-pressed=false]").wait_for()
    assert " ".join((await love.inner_text()).split()) == "Love 0"
    assert await clear.is_hidden()
    assert await like.evaluate("b => b === document.activeElement")  # focus stays in the bar
    assert await page.evaluate("window.sameDocument") is True
    saved = await site.services.blogs.get(blog.id, reader.user.id)
    assert saved.my_reaction is None and saved.reactions.total == 0

    await like.click()
    await page.locator("[data-kind=like][aria-pressed=true]").wait_for()
    assert (await site.services.blogs.get(blog.id, None)).likes_count == 1


async def test_the_feed_shows_new_posts_by_people_one_follows_as_they_are_published(site):
    writer = await make_user(site.services, "Live Writer")
    fan = await make_user(site.services, "Live Fan")
    await site.services.social.follow(fan.user.id, writer.user.id)
    page = await site.new_page()
    await sign_in(page, fan.user.email)
    await page.wait_for_url("**/")
    banner = page.locator("[data-new-posts]")
    assert await banner.is_hidden()
    await wait_until(lambda: site.services.hub.online(fan.user.id), "the feed's socket")

    await make_blog(site.services, writer.user.id, "Fresh off the press")
    await make_blog(site.services, writer.user.id, "And another")
    await make_blog(site.services, writer.user.id, "Only mine", draft=True)
    link = banner.get_by_role("link", name="2 new posts")
    await link.wait_for()
    await link.click()
    await page.wait_for_load_state()
    titles = await page.locator(".card-title").all_inner_texts()
    assert titles[:2] == ["And another", "Fresh off the press"]
    assert await page.locator("[data-new-posts]").is_hidden()
