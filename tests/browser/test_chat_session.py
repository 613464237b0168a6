"""The chat page keeps its socket through the access token's expiry: it renews the session
cookie before the server would close the socket (4001) and resumes on a new one."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up, befriend, messages, open_chat_with, send

ACCESS_SECONDS = 6

# Every text the status line shows, in order (the page's own script cannot be told to log).
RECORD_STATUS = """
window.statusLog = [];
document.addEventListener("DOMContentLoaded", () => {
  const status = document.getElementById("chat-status");
  new MutationObserver(() => window.statusLog.push(status.textContent))
    .observe(status, {childList: true, characterData: true, subtree: true});
});
"""


@pytest.fixture
def settings(settings):
    return replace(settings, access_token_ttl=ACCESS_SECONDS)


async def test_the_session_is_renewed_before_expiry_without_a_visible_drop(site):
    page_a = await site.new_page()
    page_b = await site.new_page()
    a = await api_sign_up(site, page_a, "Ana Reader")
    b = await api_sign_up(site, page_b, "Ben Writer")
    await befriend(site, page_a, a, page_b, b)
    sockets = []
    page_a.on("websocket", lambda ws: sockets.append(ws))
    await page_a.add_init_script(RECORD_STATUS)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)

    await asyncio.sleep(ACCESS_SECONDS * 1.5)  # past the expiry of the token the page began with
    await send(page_b, "after the first token expired")
    await expect(messages(page_a)).to_have_text(["after the first token expired"])
    await send(page_a, "and back")
    await expect(messages(page_b)).to_have_text(["after the first token expired", "and back"])

    assert len(sockets) >= 2  # a new socket with the renewed cookie
    log = await page_a.evaluate("() => window.statusLog")
    assert not [text for text in log if "lost" in text], log
    await expect(page_a.locator("#chat-status")).to_have_text("Connected.")
