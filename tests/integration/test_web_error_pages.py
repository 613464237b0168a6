"""Errors on page paths are pages in the product's words; on API paths they stay JSON."""

import httpx
import pytest
from starlette.routing import Route

from nirvana.app import create_app
from nirvana.domain.errors import NotFoundError, PermissionDeniedError, RateLimitedError
from nirvana.web.errors import page_endpoint

HTML = {"Accept": "text/html,application/xhtml+xml"}


def failing(exc: Exception):
    async def endpoint(request):
        raise exc
    return endpoint


@pytest.fixture
async def browser_like(services, settings):
    app = create_app(settings, services)
    app.router.routes += [
        Route("/missing", failing(NotFoundError("No such blog."))),
        Route("/forbidden", failing(PermissionDeniedError("Only the author can do that."))),
        Route("/slow-down", failing(RateLimitedError(90))),
        Route("/store-down", page_endpoint(failing(ConnectionError("refused")))),
        Route("/bug", page_endpoint(failing(RuntimeError("a bug")))),
    ]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.mark.parametrize("path,status,words", [
    ("/missing", 404, "Nothing here"),
    ("/forbidden", 403, "Only the author can do that."),
    ("/slow-down", 429, "Try again in <strong>2 minutes</strong>"),
    ("/store-down", 503, "Nirvana is unavailable for a moment"),
    ("/no/such/page", 404, "This page does not exist"),
    ("/bug", 500, "Something went wrong on our side"),
])
async def test_page_errors_are_pages(browser_like, path, status, words):
    r = await browser_like.get(path, headers=HTML)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert words in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    if status in (429, 503):
        assert r.headers["retry-after"]


async def test_signed_out_reader_is_sent_to_sign_in_and_back(browser_like):
    r = await browser_like.get("/settings", headers=HTML)
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=%2Fsettings"


async def test_a_signed_out_form_post_comes_back_to_the_page_it_was_on(browser_like):
    r = await browser_like.post("/blogs/7/like", headers={
        **HTML, "Origin": "http://testserver", "Referer": "http://testserver/blogs/7"})
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=%2Fblogs%2F7"
    r = await browser_like.post("/blogs/7/like", headers={
        **HTML, "Origin": "http://testserver", "Referer": "https://elsewhere.example/x"})
    assert r.headers["location"] == "/signin?next=%2F"


async def test_api_and_non_browser_clients_keep_the_json_shape(browser_like):
    r = await browser_like.get("/api/v1/blog/123456", headers=HTML)
    assert r.status_code == 404 and r.json()["error"]["code"] == "blog_not_found"
    r = await browser_like.get("/missing")
    assert r.status_code == 404 and r.json()["error"]["message"] == "No such blog."


async def test_a_form_posted_from_another_site_is_refused(browser_like):
    r = await browser_like.post("/signin", data={"email": "a@b.example", "password": "x"},
                                headers={**HTML, "Origin": "https://evil.example"})
    assert r.status_code == 403 and "from another site" in r.text


async def test_an_unexpected_failure_on_a_page_is_logged_once_and_names_the_request(
        browser_like, caplog):
    r = await browser_like.get("/bug", headers=HTML)
    request_id = r.headers["x-request-id"]
    assert f"request {request_id}" in r.text
    logged = [rec for rec in caplog.records if rec.levelname == "ERROR"]
    assert len(logged) == 1 and logged[0].request_id == request_id


async def test_an_unexpected_failure_on_a_page_varies_by_accept(browser_like):
    """The 500 page or the JSON 500, by Accept: each says so, as the other page errors do."""
    page = await browser_like.get("/bug", headers=HTML)
    assert page.status_code == 500 and "Accept" in page.headers["vary"]
    data = await browser_like.get("/bug")
    assert data.status_code == 500 and data.json()["error"]["code"] == "internal_error"
    assert "Accept" in data.headers["vary"]
