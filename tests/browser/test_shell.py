"""The shell every page shares: layout, navigation, assets and the Content-Security-Policy."""

import httpx
import pytest
from playwright.async_api import expect


async def test_home_page_loads_with_its_assets_and_no_csp_violation(site):
    page = await site.new_page()
    response = await page.goto("/")
    assert response.status == 200
    assert await page.title() == "Nirvana"
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Home", "Search", "People", "Write", "Chat"):
        assert await nav.get_by_role("link", name=name).count() == 1
    await expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    # The stylesheet applied: the header is laid out as a flex row.
    display = await page.locator(".site-header").evaluate("e => getComputedStyle(e).display")
    assert display == "flex"
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    # An inline script injected into the page is refused by the policy (and reported).
    await page.evaluate("""() => { const s = document.createElement('script');
        s.textContent = 'window.ran = true'; document.body.append(s); }""")
    assert await page.evaluate("() => window.ran === undefined")
    assert any("Content Security Policy" in p for p in site.problems)
    site.problems.clear()


async def test_static_files_are_immutable_under_their_hashed_names(site):
    async with httpx.AsyncClient(base_url=site.base) as http:
        html = (await http.get("/")).text
        href = html.split('rel="stylesheet" href="')[1].split('"')[0]
        assert href.startswith("/static/css/site.") and href.endswith(".css")
        hashed = await http.get(href)
        assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"
        plain = await http.get("/static/css/site.css")
        assert plain.headers["cache-control"] == "no-cache"
        again = await http.get("/static/css/site.css",
                               headers={"If-None-Match": plain.headers["etag"]})
        assert again.status_code == 304
        assert (await http.get("/static/nope.css")).status_code == 404


async def test_unknown_page_is_a_page_and_unknown_api_path_stays_json(site):
    page = await site.new_page()
    response = await page.goto("/no/such/page")
    assert response.status == 404
    await expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
    async with httpx.AsyncClient(base_url=site.base) as http:
        api = await http.get("/api/v1/nope", headers={"Accept": "text/html"})
        assert api.status_code == 404 and api.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("width", [320, 360, 390])
async def test_on_a_phone_the_main_navigation_is_one_row(site, width):
    page = await site.new_page(width=width, height=800)
    for path in ("/", "/search", "/tags", "/people"):  # each makes its own link bold
        await page.goto(path)
        links = page.get_by_role("navigation", name="Main").get_by_role("link")
        tops = await links.evaluate_all("all => all.map(a => a.getBoundingClientRect().top)")
        assert len(tops) == 6 and len(set(tops)) == 1, (path, tops)
