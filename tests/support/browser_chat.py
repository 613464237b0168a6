"""Chat steps shared by the browser tests: people set up fast through the HTTP API (the
context's request client shares the page's cookies), then the chat page driven as a user."""

from __future__ import annotations

import itertools

from .browser_ui import PASSWORD

_counter = itertools.count(1)


async def api_sign_up(site, page, name: str) -> dict:
    """Sign up through POST /api/v1/user/signup in this page's context: its cookies sign the
    page in. Returns the API's user."""
    n = next(_counter)
    response = await page.context.request.post(
        "/api/v1/user/signup", headers={"Origin": site.base},
        data={"email": f"chatter{n}@example.com", "password": PASSWORD, "name": name})
    assert response.status == 201, await response.text()
    return (await response.json())["user"]


async def befriend(site, page_a, a: dict, page_b, b: dict) -> None:
    asked = await page_a.context.request.post(f"/api/v1/friends/requests/{b['id']}",
                                              headers={"Origin": site.base})
    assert asked.ok, await asked.text()
    accepted = await page_b.context.request.post(f"/api/v1/friends/requests/{a['id']}/accept",
                                                 headers={"Origin": site.base})
    assert accepted.ok, await accepted.text()


async def open_chat_with(page, other: dict) -> None:
    await page.goto(f"/chat?with={other['id']}")
    await page.get_by_role("heading", name=other["name"], exact=True).wait_for()
    await page.locator("#chat-status", has_text="Connected").wait_for()


async def send(page, text: str) -> None:
    box = page.get_by_label("Message", exact=True)
    await box.fill(text)
    await box.press("Enter")


def messages(page):
    return page.get_by_role("log", name="Messages").locator("li .text")
