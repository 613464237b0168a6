"""The create forms (a new blog, a comment) store once per rendered form: posting the same
form again (a double click, a reload that posts it again, a retry after an error page)
lands where the first post landed, and a kept form posted with other text says so. The
editor's upload sends its one retry with the first attempt's Idempotency-Key."""

import re

import pytest
from playwright.async_api import expect

from tests.support.browser_ui import make_blog, make_user, sign_in
from tests.support.images import png

# Posts the form's current fields as the browser would post the form (same cookies, same
# Origin), without leaving the page: the copies a double click or a resend would make.
POST_FORM_AGAIN = """async (selector) => {
    const form = document.querySelector(selector);
    const response = await fetch(form.action, {
        method: "POST", body: new URLSearchParams(new FormData(form))});
    return response.status; }"""
COMMENT_FORM = "form[action$='/comments']"
EDITOR = "#editor"


async def signed_in_page(site, name):
    me = await make_user(site.services, name)
    page = await site.new_page()
    await sign_in(page, me.user.email)
    await page.wait_for_url("**/")
    return me, page


async def to_publish(page):
    # The Publish button's name and value are part of what a click posts.
    await page.evaluate("""() => {
        const input = document.createElement("input");
        input.type = "hidden"; input.name = "status"; input.value = "published";
        document.getElementById("editor").append(input); }""")


async def posted_three_times(page, form, button):
    """`form` posted twice as a double click or a resend would, then sent with `button`."""
    for _ in range(2):
        assert await page.evaluate(POST_FORM_AGAIN, form) == 200  # followed to where it landed
    await page.get_by_role("button", name=button).click()


async def sent_again_with_other_text(page, form, field, other, button):
    """`form` posted as filled, then the same rendered form (as Back shows it) sent with
    `other` in `field`: refused with a reason, and `other` kept to send anew."""
    assert await page.evaluate(POST_FORM_AGAIN, form) == 200
    await field.fill(other)
    await page.get_by_role("button", name=button).click()
    await expect(page.get_by_role("alert")).to_contain_text("already sent with other text")
    assert await field.input_value() == other


async def test_a_comment_form_posted_three_times_stores_one_comment(site):
    author = await make_user(site.services, "Author")
    blog = await make_blog(site.services, author.user.id, "Say it once")
    me, page = await signed_in_page(site, "Eager commenter")
    await page.goto(f"/blogs/{blog.id}")
    await page.get_by_label("Your comment").fill("Only once, please")
    await posted_three_times(page, COMMENT_FORM, "Comment")

    comments, total = await site.services.blogs.comments(blog.id, me.user.id, 1, 50)
    assert total == 1 and [c.body for c in comments] == ["Only once, please"]
    await page.wait_for_url(f"**/blogs/{blog.slug}?comments=1#comment-{comments[0].id}")
    await expect(page.locator(".comment")).to_have_count(1)
    await expect(page.get_by_role("heading", name="1 comment")).to_be_visible()
    # The page came with a new key: the next comment is a new one.
    await page.get_by_label("Your comment").fill("And a second thought")
    await page.get_by_role("button", name="Comment").click()
    await expect(page.locator(".comment")).to_have_count(2)


async def test_a_comment_form_sent_again_with_other_text_keeps_it_to_send_anew(site):
    author = await make_user(site.services, "Author")
    blog = await make_blog(site.services, author.user.id, "Changed mind")
    me, page = await signed_in_page(site, "Second-guesser")
    await page.goto(f"/blogs/{blog.id}")
    await page.get_by_label("Your comment").fill("First words")
    await sent_again_with_other_text(page, COMMENT_FORM, page.get_by_label("Your comment"),
                                     "Other words", "Comment")
    await page.get_by_role("button", name="Comment").click()
    await expect(page.locator(".comment")).to_have_count(2)
    comments, _ = await site.services.blogs.comments(blog.id, me.user.id, 1, 50)
    assert [c.body for c in comments] == ["First words", "Other words"]


async def test_the_new_blog_form_posted_three_times_stores_one_blog(site):
    me, page = await signed_in_page(site, "Hasty writer")
    await page.goto("/write")
    await page.get_by_label("Title").fill("Published once")
    await page.get_by_label("Body", exact=True).fill("Even when sent three times.")
    await to_publish(page)
    await posted_three_times(page, EDITOR, "Publish")

    await page.wait_for_url("**/blogs/*")
    await expect(page.get_by_role("heading", name="Published once")).to_be_visible()
    mine, _ = await site.services.blogs.page(me.user.id, 1, 50)
    assert [b.title for b in mine] == ["Published once"]
    assert page.url.endswith(f"/blogs/{mine[0].slug}")


async def test_the_new_blog_form_sent_again_with_other_text_keeps_it_to_send_anew(site):
    me, page = await signed_in_page(site, "Reviser")
    await page.goto("/write")
    await page.get_by_label("Title").fill("Draft one")
    await page.get_by_label("Body", exact=True).fill("First words.")
    await to_publish(page)
    await sent_again_with_other_text(page, EDITOR, page.get_by_label("Body", exact=True),
                                     "Other words.", "Publish")
    assert await page.get_by_label("Title").input_value() == "Draft one"
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/blogs/*")
    mine, _ = await site.services.blogs.page(me.user.id, 1, 50)
    assert sorted(b.body for b in mine) == ["First words.", "Other words."]


async def test_a_key_from_another_readers_form_is_that_readers_alone(site):
    author = await make_user(site.services, "Author")
    blog = await make_blog(site.services, author.user.id, "Shared words")
    ann, ann_page = await signed_in_page(site, "Ann")
    bob, bob_page = await signed_in_page(site, "Bob")
    key = f"{COMMENT_FORM} input[name='idempotency_key']"
    await ann_page.goto(f"/blogs/{blog.id}")
    anns_key = await ann_page.locator(key).input_value()
    await ann_page.get_by_label("Your comment").fill("Same words")
    await ann_page.get_by_role("button", name="Comment").click()
    await expect(ann_page.locator(".comment")).to_have_count(1)
    # Bob's form carries Ann's key, copied: it is a key of Bob's, unused.
    await bob_page.goto(f"/blogs/{blog.id}")
    await bob_page.locator(key).evaluate("(input, value) => { input.value = value; }",
                                         anns_key)
    await bob_page.get_by_label("Your comment").fill("Same words")
    await bob_page.get_by_role("button", name="Comment").click()
    await expect(bob_page.locator(".comment")).to_have_count(2)
    comments, _ = await site.services.blogs.comments(blog.id, bob.user.id, 1, 50)
    assert [c.author.id for c in comments] == [ann.user.id, bob.user.id]


async def test_text_kept_on_the_resent_page_is_shown_as_text(site):
    author = await make_user(site.services, "Author")
    blog = await make_blog(site.services, author.user.id, "Escapes")
    _, page = await signed_in_page(site, "Tester")
    await page.goto(f"/blogs/{blog.id}")
    await page.get_by_label("Your comment").fill("First words")
    # A textarea's text ends only at a closing tag: the one way out of it.
    tricky = '</textarea><b id="x">hi</b>'
    await sent_again_with_other_text(page, COMMENT_FORM, page.get_by_label("Your comment"),
                                     tricky, "Comment")
    await expect(page.locator("#x")).to_have_count(0)


@pytest.mark.parametrize("first", ["cut off", "answered 503"])
async def test_an_editor_upload_that_failed_is_sent_again_with_its_key(site, tmp_path, first):
    me, page = await signed_in_page(site, "Uploader")
    keys = []

    async def fail_the_first(route):
        # Chromium hands a route no body of a file upload, so the first attempt cannot be
        # let through with its answer lost; that replay is tests/integration's
        # test_upload_idempotency.py. Here: the retry carries the first attempt's key.
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) > 1:
            await route.continue_()
        elif first == "cut off":
            await route.abort("connectionreset")
        else:
            await route.fulfill(status=503, content_type="application/json",
                                body='{"error": {"code": "unavailable", "message": "Busy"}}')

    await page.route("**/api/v1/image/upload", fail_the_first)
    await page.goto("/write")
    picture = tmp_path / "once.png"
    picture.write_bytes(png(5, 5))
    await page.get_by_label("Add an image").set_input_files(str(picture))
    await page.get_by_text("Added once.png.").wait_for()

    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    body = await page.get_by_label("Body", exact=True).input_value()
    assert body.count("/media/") == 1
    assert (await site.services.uploads.usage(me.user.id)).files == 1
    # Each picked file has a key of its own.
    await page.get_by_label("Add an image").set_input_files(str(picture))
    await expect(page.get_by_label("Body", exact=True)).to_have_value(
        re.compile(r"/media/[\s\S]*/media/"))
    assert len(keys) == 3 and keys[2] != keys[0]
    site.problems[:] = [p for p in site.problems if not p.endswith("/image/upload: 503")]


async def test_an_editor_upload_refused_otherwise_is_not_sent_again(site, tmp_path):
    me, page = await signed_in_page(site, "Refused uploader")
    keys = []

    async def too_large(route):
        keys.append(route.request.headers.get("idempotency-key"))
        await route.fulfill(status=413, content_type="application/json", body=(
            '{"error": {"code": "quota_exceeded", "message": "Over your quota"}}'))

    await page.route("**/api/v1/image/upload", too_large)
    await page.goto("/write")
    picture = tmp_path / "big.png"
    picture.write_bytes(png(7, 7))
    await page.get_by_label("Add an image").set_input_files(str(picture))
    await expect(page.locator("#upload-status")).to_have_text("Over your quota")
    assert len(keys) == 1  # the status is shown only once any retry has been made
    assert (await site.services.uploads.usage(me.user.id)).files == 0
    site.problems[:] = [p for p in site.problems if not p.endswith("/image/upload: 413")]
