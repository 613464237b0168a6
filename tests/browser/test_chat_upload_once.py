"""The chat's attachments in Chromium: each file is uploaded with an Idempotency-Key of its
own, and sent again once with it after a 503 or a dropped connection, so an upload the
server stored before its answer was lost is answered, not stored twice."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up, befriend, open_chat_with
from tests.support.images import png

UPLOAD = "**/api/v1/media/upload"
BUSY = '{"error": {"code": "unavailable", "message": "Busy"}}'


async def two_friends(site):
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ana Once")
    b = await api_sign_up(site, page_b, "Ben Once")
    await befriend(site, page_a, a, page_b, b)
    return page_a, a, page_b, b


async def stored(site, page) -> list[dict]:
    """The uploads the page's user sees in their own list."""
    r = await page.context.request.get("/api/v1/media", headers={"Origin": site.base})
    assert r.ok, await r.text()
    return (await r.json())["items"]


async def test_an_upload_stored_but_answered_503_is_replayed_and_sent_once(site):
    page_a, a, page_b, b = await two_friends(site)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    picture = png(9, 9)
    keys, answers = [], []

    async def stored_then_lost(route):
        # Chromium hands a route no body of a file upload, so the first attempt is made
        # here, as the browser sent it (same key, file and name): the server stores it,
        # and the browser is told 503, as when an instance dies before answering.
        key = route.request.headers.get("idempotency-key")
        keys.append(key)
        if len(keys) == 1:
            first = await page_a.context.request.post(
                "/api/v1/media/upload", headers={"Origin": site.base, "Idempotency-Key": key},
                multipart={"file": {"name": "dot.png", "mimeType": "image/png",
                                    "buffer": picture}})
            assert first.status == 201, await first.text()
            await route.fulfill(status=503, content_type="application/json", body=BUSY)
        else:
            response = await route.fetch()
            answers.append(response.headers.get("idempotent-replayed"))
            await route.fulfill(response=response)

    await page_a.route(UPLOAD, stored_then_lost)
    await page_a.set_input_files("#attach", files=[
        {"name": "dot.png", "mimeType": "image/png", "buffer": picture}])
    image = page_b.get_by_role("log", name="Messages").locator("img")
    await expect(image).to_have_count(1)
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    assert answers == ["true"]
    [upload] = await stored(site, page_a)
    assert (await image.get_attribute("src")) == upload["url"]
    site.problems[:] = [p for p in site.problems if not p.endswith("/media/upload: 503")]


async def test_each_file_has_a_key_of_its_own_and_another_refusal_is_not_retried(site):
    page_a, a, _, b = await two_friends(site)
    await open_chat_with(page_a, b)
    keys = []

    async def refused(route):
        keys.append(route.request.headers.get("idempotency-key"))
        await route.fulfill(status=413, content_type="application/json", body=(
            '{"error": {"code": "quota_exceeded", "message": "Over your quota"}}'))

    await page_a.route(UPLOAD, refused)
    for name in ("one.png", "two.png"):
        await page_a.set_input_files("#attach", files=[
            {"name": name, "mimeType": "image/png", "buffer": png(4, 4)}])
        await expect(page_a.locator("#attachment-note")).to_have_text(
            f"{name} was not attached: Over your quota")
    assert len(keys) == 2 and all(keys) and keys[0] != keys[1]
    assert await stored(site, page_a) == []
    site.problems[:] = [p for p in site.problems if not p.endswith("/media/upload: 413")]


async def test_an_upload_with_no_answer_is_told_plainly_and_sent_again_with_its_key(site):
    page_a, a, page_b, b = await two_friends(site)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    picture = png(7, 7)
    keys, answers = [], []
    nginx = ('{"error": {"code": "unavailable", "message": "No instance is answering; retry '
             'shortly (a POST may have been applied: see the API docs on Idempotency-Key)"}}')

    async def lost_twice(route):
        # The first attempt is stored (made here: Chromium hands a route no file body) and
        # both the browser's attempts are answered 503, as nginx does while every instance
        # is down; the user's retry then reaches the server.
        key = route.request.headers.get("idempotency-key")
        keys.append(key)
        if len(keys) == 1:
            first = await page_a.context.request.post(
                "/api/v1/media/upload", headers={"Origin": site.base, "Idempotency-Key": key},
                multipart={"file": {"name": "dot.png", "mimeType": "image/png",
                                    "buffer": picture}})
            assert first.status == 201, await first.text()
        if len(keys) <= 2:
            await route.fulfill(status=503, content_type="application/json", body=nginx)
        else:
            response = await route.fetch()
            answers.append(response.headers.get("idempotent-replayed"))
            await route.fulfill(response=response)

    await page_a.route(UPLOAD, lost_twice)
    await page_a.set_input_files("#attach", files=[
        {"name": "dot.png", "mimeType": "image/png", "buffer": picture}])
    note = page_a.locator("#attachment-note")
    await expect(note).to_have_text(
        "dot.png was not sent: the server did not answer. Send it again when the connection "
        "is back. Send it again")
    image = page_b.get_by_role("log", name="Messages").locator("img")
    assert await image.count() == 0
    await note.get_by_role("button", name="Send it again").click()
    await expect(image).to_have_count(1)
    assert len(keys) == 3 and keys[0] and keys[0] == keys[1] == keys[2]
    assert answers == ["true"]
    assert len(await stored(site, page_a)) == 1
    site.problems[:] = [p for p in site.problems if not p.endswith("/media/upload: 503")]
