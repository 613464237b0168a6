"""People in the browser: find someone, follow, become friends (request, decline, accept),
unfriend and block; profiles show blogs, counts and lists."""

from playwright.async_api import expect

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
    # Before a search the page says what to type, instead of a form alone.
    await expect(a.locator("main .empty")).to_contain_text("name or username")
    await a.get_by_label("Name or username").fill("bob")
    await a.get_by_role("button", name="Find people").click()
    await a.get_by_role("link", name="Bob Builder").click()
    await expect(a.get_by_role("heading", name="Bob Builder")).to_be_visible()
    await expect(a.locator(".card-title")).to_have_text(["Bob's first post"], use_inner_text=True)

    await a.get_by_role("button", name="Follow").click()
    await expect(a.get_by_role("link", name="1 follower")).to_be_visible()
    await a.get_by_role("link", name="1 follower").click()
    await expect(a.locator(".people .who a")).to_have_text(["Ann Example"], use_inner_text=True)
    await a.go_back()

    # Ann asks, Bob declines; Ann asks again, Bob accepts from his requests page.
    await a.get_by_role("button", name="Add friend").click()
    await expect(a.get_by_text("Friend request sent")).to_be_visible()
    await b.goto("/people/requests")
    await b.get_by_role("button", name="Decline").click()
    await expect(b.get_by_text("No requests waiting.")).to_be_visible()
    await a.reload()
    await a.get_by_role("button", name="Add friend").click()
    await b.goto("/people/requests")
    await b.get_by_role("button", name="Accept").click()
    await a.reload()
    await expect(a.get_by_text("Friends", exact=True)).to_be_visible()
    await b.goto(f"/people/{bob.user.id}/friends")
    await expect(b.locator(".people .who a")).to_have_text(["Ann Example"], use_inner_text=True)

    await a.get_by_role("button", name="Unfriend").click()
    await expect(a.get_by_role("button", name="Add friend")).to_be_visible()
    await a.get_by_role("button", name="Block").click()
    await expect(a.get_by_role("button", name="Unblock")).to_be_visible()
    # Blocked: Bob no longer finds Ann's profile, and Ann's follow is gone.
    response = await b.goto(f"/people/{ann.user.id}")
    assert response.status == 404
    await a.get_by_role("button", name="Unblock").click()
    await expect(a.get_by_role("button", name="Follow")).to_be_visible()


async def test_own_profile_links_to_settings_and_requests(site):
    me = await make_user(site.services, "Self Viewer")
    page = await signed_in(site, me)
    await page.get_by_role("banner").get_by_role("link", name="Self Viewer").click()
    await expect(page.get_by_role("link", name="Edit profile")).to_be_visible()
    await expect(page.get_by_role("link", name="0 friends")).to_be_visible()
    await page.get_by_role("link", name="Friend requests").click()
    await expect(page.get_by_role("heading", name="Friend requests")).to_be_visible()
