"""The chat page in Chromium: files attached by picking or dropping them, and unsent messages
that survive a reload of the page."""

from __future__ import annotations

import asyncio
import json
import re

from playwright.async_api import expect

from tests.support.browser_chat import api_sign_up, befriend, messages, open_chat_with, send
from tests.support.images import png
from tests.support.media_files import pdf, wav

KEPT = "nirvana.chat.unsent."


async def two_friends(site):
    page_a, page_b = await site.new_page(), await site.new_page()
    a = await api_sign_up(site, page_a, "Ana Files")
    b = await api_sign_up(site, page_b, "Ben Files")
    await befriend(site, page_a, a, page_b, b)
    return page_a, a, page_b, b


async def drop_file(page, name: str, mime: str, data: bytes) -> None:
    """What a browser does when a file is dropped on the conversation: dragover, then drop,
    with a DataTransfer holding the file."""
    await page.evaluate("""([name, type, bytes]) => {
      const transfer = new DataTransfer();
      transfer.items.add(new File([new Uint8Array(bytes)], name, { type }));
      const zone = document.getElementById("conversation");
      for (const kind of ["dragover", "drop"]) {
        zone.dispatchEvent(new DragEvent(kind,
          { dataTransfer: transfer, bubbles: true, cancelable: true }));
      }
    }""", [name, mime, list(data)])


async def test_files_picked_or_dropped_are_sent_images_inline_others_as_downloads(site):
    """In the order they were picked or dropped, however long each upload takes."""
    page_a, a, page_b, b = await two_friends(site)
    await open_chat_with(page_a, b)
    await open_chat_with(page_b, a)
    uploads = 0

    async def first_upload_slow(route):
        # The picked file uploads slowly: the files dropped after it still go out after it.
        nonlocal uploads
        uploads += 1
        if uploads == 1:
            await asyncio.sleep(1.0)
        await route.continue_()

    await page_a.route("**/api/v1/media/upload", first_upload_slow)
    await page_a.set_input_files("#attach", files=[
        {"name": "report.pdf", "mimeType": "application/pdf", "buffer": pdf()}])
    await drop_file(page_a, "voice note.wav", "audio/wav", wav())
    await drop_file(page_a, "dot.png", "image/png", png(8, 8))

    log = page_b.get_by_role("log", name="Messages")
    links = log.locator("a.attachment.file")
    await expect(links).to_have_count(2)
    await expect(links.nth(0)).to_have_text(f"report.pdf ({len(pdf())} bytes)")
    await expect(links.nth(1)).to_have_text(re.compile(r"^voice note\.wav \(1\.\d kB\)$"))
    await expect(links.nth(1)).to_have_attribute("data-kind", "audio")
    image = log.locator("img")
    await expect(image).to_have_count(1)
    assert (await image.get_attribute("src")).startswith("/media/")

    # A file is a download under its own name, never a page opened from the site.
    async with page_b.expect_download() as downloading:
        await links.nth(0).click()
    download = await downloading.value
    assert download.suggested_filename == "report.pdf"
    with open(await download.path(), "rb") as f:
        assert f.read() == pdf()

    # The uploads count against Ana's storage, shown on her own profile only.
    await page_a.goto(f"/people/{a['id']}")
    await expect(page_a.locator("#storage")).to_contain_text("(3 files)")
    await page_b.goto(f"/people/{a['id']}")
    await expect(page_b.locator("#storage")).to_have_count(0)


async def test_an_unsent_message_survives_a_reload_and_is_sent_once_with_its_client_id(site):
    page_a, a, page_b, b = await two_friends(site)
    await open_chat_with(page_b, a)

    # Ana's sends never reach the server while `holding`: everything else passes through.
    holding = True

    def route(ws):
        server = ws.connect_to_server()

        def forward(text):
            if not (holding and json.loads(text).get("type") == "send"):
                server.send(text)
        ws.on_message(forward)

    await page_a.route_web_socket(re.compile(r"/ws(\?|$)"), route)
    await open_chat_with(page_a, b)
    await send(page_a, "written before the reload")
    pending = page_a.locator("#messages li.pending")
    await expect(pending.locator(".text")).to_have_text("written before the reload")
    client_id = await pending.get_attribute("data-client-id")

    kept = await page_a.evaluate("(key) => sessionStorage.getItem(key)", KEPT + str(a["id"]))
    assert json.loads(kept) == [{"conversation_id": json.loads(kept)[0]["conversation_id"],
                                 "client_id": client_id, "text": "written before the reload"}]
    cookies = {c["name"]: c["value"] for c in await page_a.context.cookies()}
    assert all(v not in kept for v in cookies.values())  # never a token

    await page_a.reload()
    await page_a.locator("#chat-status", has_text="Connected").wait_for()
    pending = page_a.locator("#messages li.pending")
    await expect(pending).to_have_attribute("data-client-id", client_id)
    await expect(pending.locator("[data-tick]")).to_have_attribute("data-tick", "pending")
    await expect(messages(page_b)).to_have_count(0)

    holding = False
    await page_a.context.set_offline(True)  # the next connection resends it
    await page_a.context.set_offline(False)
    await expect(page_a.locator("#messages li.pending")).to_have_count(0)
    await expect(messages(page_a)).to_have_text(["written before the reload"])
    await expect(messages(page_b)).to_have_text(["written before the reload"])
    assert await page_a.evaluate("(key) => sessionStorage.getItem(key)",
                                 KEPT + str(a["id"])) is None


async def test_signing_out_forgets_unsent_messages(site):
    page_a, a, page_b, b = await two_friends(site)

    def route(ws):  # the server never sees Ana's sends
        server = ws.connect_to_server()
        ws.on_message(lambda text: None if json.loads(text).get("type") == "send"
                      else server.send(text))

    await page_a.route_web_socket(re.compile(r"/ws(\?|$)"), route)
    await open_chat_with(page_a, b)
    await send(page_a, "never sent")
    await expect(page_a.locator("#messages li.pending")).to_have_count(1)
    key = KEPT + str(a["id"])
    assert await page_a.evaluate("(key) => sessionStorage.getItem(key)", key) is not None
    await page_a.get_by_role("button", name="Sign out").click()
    await page_a.wait_for_url(site.base + "/")
    assert await page_a.evaluate("(key) => sessionStorage.getItem(key)", key) is None
