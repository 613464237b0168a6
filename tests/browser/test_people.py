"""People in the browser: find someone, follow, become friends (request, decline, accept),
unfriend and block; profiles show blogs, counts and lists."""

from tests.support.browser_ui import make_blog, make_user, sign_in


async def signed_in(site, session):
    page = await site.new_page(java_script_enabled=False)
    await sign_in(page, session.user.email)
    await page.wait_for_url("**/")
    return page


async def test_find_follow_befriend_unfriend_and_block(site):
    ann = await make_user(site.services, "Ann Example")
    bob = await make_user(site.services, "Bob Builder")
    await make_blog(site.services, bob.user.id, "Bob's first post")
    a = await signed_in(site, ann)
    b = await signed_in(site, bob)

    await a.get_by_role("link", name="People", exact=True).click()
    await a.get_by_label("Name or username").fill("bob")
    await a.get_by_role("button", name="Find people").click()
    await a.get_by_role("link", name="Bob Builder").click()
    assert await a.get_by_role("heading", name="Bob Builder").is_visible()
    assert await a.locator(".card-title").all_inner_texts() == ["Bob's first post"]

    await a.get_by_role("button", name="Follow").click()
    assert await a.get_by_role("link", name="1 follower").is_visible()
    await a.get_by_role("link", name="1 follower").click()
    assert await a.locator(".people .who a").all_inner_texts() == ["Ann Example"]
    await a.go_back()

    # Ann asks, Bob declines; Ann asks again, Bob accepts from his requests page.
    await a.get_by_role("button", name="Add friend").click()
    assert await a.get_by_text("Friend request sent").is_visible()
    await b.goto("/people/requests")
    await b.get_by_role("button", name="Decline").click()
    assert await b.get_by_text("No requests waiting.").is_visible()
    await a.reload()
    await a.get_by_role("button", name="Add friend").click()
    await b.goto("/people/requests")
    await b.get_by_role("button", name="Accept").click()
    await a.reload()
    assert await a.get_by_text("Friends", exact=True).is_visible()
    await b.goto(f"/people/{bob.user.id}/friends")
    assert await b.locator(".people .who a").all_inner_texts() == ["Ann Example"]

    await a.get_by_role("button", name="Unfriend").click()
    assert await a.get_by_role("button", name="Add friend").is_visible()
    await a.get_by_role("button", name="Block").click()
    assert await a.get_by_role("button", name="Unblock").is_visible()
    # Blocked: Bob no longer finds Ann's profile, and Ann's follow is gone.
    response = await b.goto(f"/people/{ann.user.id}")
    assert response.status == 404
    await a.get_by_role("button", name="Unblock").click()
    assert await a.get_by_role("button", name="Follow").is_visible()


async def test_own_profile_links_to_settings_and_requests(site):
    me = await make_user(site.services, "Self Viewer")
    page = await signed_in(site, me)
    await page.get_by_role("banner").get_by_role("link", name="Self Viewer").click()
    assert await page.get_by_role("link", name="Edit profile").is_visible()
    assert await page.get_by_role("link", name="0 friends").is_visible()
    await page.get_by_role("link", name="Friend requests").click()
    assert await page.get_by_role("heading", name="Friend requests").is_visible()
