"""The first feed page, with everything it loads, stays within 100 KB on the wire."""

from tests.support.browser_ui import make_blog, make_user

BUDGET = 100_000


async def test_first_feed_page_with_its_assets_fits_the_budget(site, capsys):
    author = await make_user(site.services, "Weigher")
    for n in range(12):
        await make_blog(site.services, author.user.id, f"A blog with a longer title, number {n}",
                        summary="A summary of one or two sentences, as a writer would give. "
                                "It says what the blog is about.",
                        tags=("one", "two", "three"), place=("Lisbon", "Portugal"))
    page = await site.new_page()
    loads: list[tuple[str, int]] = []

    async def finished(request):
        sizes = await request.sizes()
        loads.append((request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"]))

    page.on("requestfinished", finished)
    await page.goto("/", wait_until="networkidle")
    total = sum(size for _, size in loads)
    with capsys.disabled():
        print(f"\nfirst feed page: {total} bytes in {len(loads)} responses: "
              + ", ".join(f"{url.rsplit('/', 1)[-1] or '/'} {size}" for url, size in loads))
    assert total <= BUDGET, loads
