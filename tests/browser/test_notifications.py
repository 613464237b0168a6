"""Notifications in the browser: the bell's count in the header, the list, marking read and
opening one, all with plain forms (JavaScript off); and the bell following live frames."""

from tests.support.browser_ui import make_blog, make_user, sign_in


def flat(texts: list[str]) -> list[str]:
    return [" ".join(t.split()) for t in texts]


async def signed_in(site, session, *, javascript: bool = False):
    page = await site.new_page(java_script_enabled=javascript)
    await sign_in(page, session.user.email)
    await page.wait_for_url("**/")
    return page


async def test_the_bell_counts_and_the_list_marks_read_without_javascript(site):
    ann = await make_user(site.services, "Ann Example")
    bob = await make_user(site.services, "Bob Builder")
    blog = await make_blog(site.services, bob.user.id, "Bob's first post")
    await site.services.social.follow(ann.user.id, bob.user.id)
    await site.services.blogs.like(blog.id, ann.user.id)

    b = await signed_in(site, bob)
    bell = b.get_by_role("link", name="Notifications 2 unread")
    assert (await bell.inner_text()).split() == ["Notifications", "2", "unread"]
    # Its mark is drawn, not a character: it shows on a machine without an emoji font.
    assert await bell.locator("svg").count() == 1
    await bell.click()
    await b.wait_for_url("**/notifications")
    assert flat(await b.locator(".notification .what").all_inner_texts()) == [
        "Unread: Ann Example liked “Bob's first post”",
        "Unread: Ann Example started following you"]

    await b.locator(".notification").nth(1).get_by_role("button", name="Mark read").click()
    await b.wait_for_url("**/notifications")
    assert flat([await b.locator("[data-bell] .count").inner_text()]) == ["1 unread"]

    # Open goes to what it is about and marks it read.
    await b.locator(".notification").first.get_by_role("button", name="Open").click()
    await b.wait_for_url(f"**/blogs/{blog.slug}")  # the id link lands on the slug's page
    assert await b.locator("[data-bell] .count").is_hidden()

    await b.goto("/notifications")
    await b.locator(".notification").first.get_by_role("button", name="Delete").click()
    assert flat(await b.locator(".notification .what").all_inner_texts()) == [
        "Ann Example started following you"]


async def test_a_hidden_blog_leaves_the_page_and_the_bell_until_shown_again(site):
    ann = await make_user(site.services, "Ann Example")
    bob = await make_user(site.services, "Bob Builder")
    await site.services.social.follow(ann.user.id, bob.user.id)
    blog = await make_blog(site.services, bob.user.id, "Secret plans of Bob")
    a = await signed_in(site, ann)
    await a.goto("/notifications")
    assert flat(await a.locator(".notification .what").all_inner_texts()) == [
        "Unread: Bob Builder published “Secret plans of Bob”"]

    await site.services.blogs.set_hidden(blog.id, True)  # as a moderator's hide_blog does
    await a.goto("/notifications")
    assert await a.locator(".notification").count() == 0
    assert "Secret plans" not in await a.content()
    assert await a.locator("[data-bell] .count").is_hidden()

    await site.services.blogs.set_hidden(blog.id, False)
    await a.goto("/notifications")
    assert flat([await a.locator("[data-bell] .count").inner_text()]) == ["1 unread"]


async def test_a_signed_out_visitor_is_sent_to_sign_in(site):
    page = await site.new_page(java_script_enabled=False)
    await page.goto("/notifications")
    assert "/signin" in page.url


async def test_the_bell_follows_frames_a_page_socket_passes_on(site):
    bob = await make_user(site.services, "Bob Builder")
    b = await site.new_page(java_script_enabled=True)
    # The feed's own socket opens with a `notifications.unread` (0 here): wait for it, or
    # it may land after the frames dispatched below and set the count back.
    await b.add_init_script("""window.addEventListener("nirvana:frame", (event) => {
        if (event.detail && event.detail.type === "notifications.unread") {
            window.unreadFrameSeen = true;
        }
    });""")
    await sign_in(b, bob.user.email)
    await b.wait_for_url("**/")
    # One evaluate, no polling: the page's CSP refuses the eval wait_for_function polls with.
    await b.evaluate("""() => window.unreadFrameSeen || new Promise((resolve) => {
        window.addEventListener("nirvana:frame", (event) => {
            if (event.detail && event.detail.type === "notifications.unread") resolve(true);
        });
    })""")
    count = b.locator("[data-bell] .count")
    assert await count.is_hidden()
    await b.evaluate("""() => window.dispatchEvent(new CustomEvent("nirvana:frame",
        {detail: {type: "notifications.unread", unread: 3}}))""")
    assert flat([await count.inner_text()]) == ["3 unread"]
    # The count's bound means that many or more (docs/protocol.md, Notifications).
    await b.evaluate("""() => window.dispatchEvent(new CustomEvent("nirvana:frame",
        {detail: {type: "notification", unread: 1000}}))""")
    assert flat([await count.inner_text()]) == ["999+ unread"]
    await b.evaluate("""() => window.dispatchEvent(new CustomEvent("nirvana:frame",
        {detail: {type: "notifications.unread", unread: 999}}))""")
    assert flat([await count.inner_text()]) == ["999 unread"]
    await b.evaluate("""() => window.dispatchEvent(new CustomEvent("nirvana:frame",
        {detail: {type: "notifications.unread", unread: 0}}))""")
    assert await count.is_hidden()


async def test_the_bell_shows_999_plus_for_the_bound_of_the_count(site):
    bob = await make_user(site.services, "Bob Builder")
    # More unread than the count counts, in one statement; the page reads them as it would.
    await site.services.pool.execute(
        "INSERT INTO notifications (recipient_id, kind, subject, group_key, text, created_at,"
        " updated_at) SELECT $1, 'notice', 'notice:' || i, 'notice:' || i, 'Export ready',"
        " now(), now() FROM generate_series(1, 1001) i", bob.user.id)
    b = await signed_in(site, bob)
    await b.goto("/notifications")
    assert flat([await b.locator("[data-bell] .count").inner_text()]) == ["999+ unread"]
