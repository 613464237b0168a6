"""The chat's New group dialog in Chromium: each opening makes an Idempotency-Key, so
Create pressed again after an error whose group was stored (a 503 after the commit) opens
that group instead of making a second one."""

from __future__ import annotations

from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up, befriend

BUSY = '{"error": {"code": "unavailable", "message": "The server is busy; try again."}}'


async def groups_of(site, page) -> list[dict]:
    r = await page.context.request.get("/api/v1/conversations", headers={"Origin": site.base})
    assert r.ok, await r.text()
    return [c for c in (await r.json())["conversations"] if c["kind"] == "group"]


async def test_create_pressed_again_after_a_lost_answer_opens_the_one_group(site):
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ana Groups")
    b = await api_sign_up(site, page_b, "Ben Groups")
    await befriend(site, page_a, a, page_b, b)
    keys, replayed = [], []

    async def stored_then_lost(route):
        if route.request.method != "POST":
            await route.continue_()
            return
        keys.append(route.request.headers.get("idempotency-key"))
        response = await route.fetch()  # the server stores the group...
        if len(keys) == 1:  # ...and the browser hears 503, as when an instance dies
            await route.fulfill(status=503, content_type="application/json", body=BUSY)
        else:
            replayed.append(response.headers.get("idempotent-replayed"))
            await route.fulfill(response=response)

    await page_a.route("**/api/v1/conversations", stored_then_lost)
    await page_a.goto("/chat")
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    await page_a.get_by_role("button", name="New group").click()
    dialog = page_a.get_by_role("dialog")
    await dialog.get_by_label("Name").fill("Trip")
    await dialog.get_by_label("Ben Groups").check()
    await dialog.get_by_role("button", name="Create").click()
    await expect(dialog.locator("#group-error")).to_have_text("The server is busy; try again.")
    await dialog.get_by_role("button", name="Create").click()
    await page_a.get_by_role("heading", name="Trip", exact=True).wait_for()

    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    assert replayed == ["true"]
    [group] = await groups_of(site, page_a)
    assert group["name"] == "Trip"
    await expect(page_a.locator("#conversation-list .name")).to_have_text(["Trip"])
    # The next opening of the dialog is another group: a key of its own.
    await page_a.get_by_role("button", name="New group").click()
    await dialog.get_by_label("Name").fill("Hike")
    await dialog.get_by_label("Ben Groups").check()
    await dialog.get_by_role("button", name="Create").click()
    await page_a.get_by_role("heading", name="Hike", exact=True).wait_for()
    assert len(keys) == 3 and keys[2] != keys[0]
    assert len(await groups_of(site, page_a)) == 2
    site.problems[:] = [p for p in site.problems if not p.endswith("/conversations: 503")]
