"""A video in a blog: uploaded from the editor, shown on the blog page as a player."""

from tests.support.browser_ui import make_user, sign_in
from tests.support.media_files import mp4


async def test_a_video_picked_in_the_editor_is_a_player_on_the_blog(site, tmp_path):
    me = await make_user(site.services, "Filmer")
    page = await site.new_page()
    await sign_in(page, me.user.email)
    await page.wait_for_url("**/")
    await page.goto("/write")
    await page.get_by_label("Title").fill("A short film")
    clip = tmp_path / "harbour.mp4"
    clip.write_bytes(mp4())
    await page.get_by_label("Add an image or video").set_input_files(str(clip))
    await page.get_by_text("Added harbour.mp4.").wait_for()
    body = await page.get_by_label("Body", exact=True).input_value()
    assert "![harbour](/media/" in body and ".mp4)" in body
    assert await page.get_by_label("Header image URL").input_value() == ""  # not a picture
    await page.locator("#preview video").wait_for(state="attached")
    await page.get_by_role("button", name="Publish").click()
    await page.wait_for_url("**/blogs/*")
    video = page.locator(".prose video")
    src = await video.get_attribute("src")
    assert src.startswith("/media/") and src.endswith(".mp4")
    assert await video.get_attribute("controls") is not None
    served = await page.request.get(src)
    assert served.headers["content-type"] == "video/mp4"
