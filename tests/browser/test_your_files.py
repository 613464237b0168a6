"""Your files in the browser: an upload is listed on your own profile, and deleting it (after
a confirm step) takes it off the list, stops it being served and gives its space back."""

from playwright.async_api import expect

from tests.support.browser_ui import make_user, sign_in
from tests.support.images import png


async def test_upload_see_it_listed_delete_it_and_the_usage_drops(site, tmp_path):
    ann = await make_user(site.services, "Ann Example")
    page = await site.new_page(java_script_enabled=False)
    await sign_in(page, ann.user.email)
    await page.wait_for_url("**/")
    await page.goto(f"/people/{ann.user.id}")
    await expect(page.locator("#storage")).to_contain_text("(0 files)")
    await expect(page.get_by_text("No files yet.")).to_be_visible()

    picture = tmp_path / "me.png"
    picture.write_bytes(png(8, 8))
    await page.goto("/settings")
    await page.get_by_label("New picture").set_input_files(str(picture))
    await page.get_by_role("button", name="Upload picture").click()
    await page.goto(f"/people/{ann.user.id}")
    await expect(page.locator("#storage")).to_contain_text("(1 file)")
    await expect(page.locator("#storage strong")).not_to_have_text("0 bytes")
    rows = page.locator("table.files tbody tr")
    await expect(rows).to_have_count(1)
    link = rows.locator("td").first.get_by_role("link")
    url = await link.get_attribute("href")
    # The picture keeps the name it was picked under, with its storage name under it.
    assert url.startswith("/media/") and await link.inner_text() == "me.png"
    await expect(rows.locator(".storage-name")).to_have_text(url.removeprefix("/media/"))
    await expect(rows.locator("td").nth(1)).to_have_text("image")
    assert (await page.request.get(url)).status == 200

    await rows.get_by_role("link", name="Delete").click()
    await expect(page.get_by_role("heading")).to_contain_text("Delete")
    await page.get_by_role("link", name="Keep it").click()  # the confirm step can step back
    await expect(rows).to_have_count(1)
    await rows.get_by_role("link", name="Delete").click()
    await page.get_by_role("button", name="Delete for good").click()
    await page.wait_for_url(f"**/people/{ann.user.id}#files")
    await expect(page.get_by_text("No files yet.")).to_be_visible()
    await expect(page.locator("#storage")).to_contain_text("(0 files)")
    await expect(page.locator("#storage strong")).to_have_text("0 bytes")
    assert (await page.request.get(url)).status == 404


async def test_on_a_phone_long_names_wrap_in_two_lines_and_nothing_scrolls_sideways(site,
                                                                                  tmp_path):
    ann = await make_user(site.services, "Ann Example")
    page = await site.new_page(java_script_enabled=False, width=390, height=800)
    await sign_in(page, ann.user.email)
    await page.wait_for_url("**/")
    long_name = " ".join(["quarterly report"] * 10) + ".pdf"
    for name in ("notes.txt", long_name, "x" * 190 + ".pdf"):
        r = await page.request.post("/api/v1/media/upload", headers={"Origin": site.base},
                                    multipart={"file": {"name": name, "mimeType": "text/plain",
                                                        "buffer": b"%PDF-1.4\n%%EOF\n"}})
        assert r.status == 201, await r.text()
    await page.goto("/files")
    names = page.locator("table.files td.file-name a")
    await expect(names).to_have_count(3)
    await expect(names.nth(2)).to_have_text("notes.txt")
    await expect(names.nth(1)).to_have_attribute("title", long_name)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
    line = await names.nth(2).evaluate("a => a.getBoundingClientRect().height")
    for i in (0, 1):
        assert await names.nth(i).evaluate("a => a.getBoundingClientRect().height") <= 2 * line + 1
    await page.screenshot(path=str(tmp_path / "files-phone.png"), full_page=True)
