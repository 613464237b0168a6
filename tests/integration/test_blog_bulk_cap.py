"""GET /api/v1/blog/bulk answers at most 1,000 blogs, the newest, and says when it cut."""

from __future__ import annotations


from nirvana.domain.blogs.reading import BULK_CAP
from tests.support.http import sign_up


async def _published(services, author: int, count: int) -> None:
    # Straight to the table: a thousand blogs through the API would take the test's time.
    await services.pool.execute(
        "INSERT INTO blogs (author_id, title, body, status, published_at) "
        "SELECT $1, 'Blog ' || n, 'body', 'published', "
        "       timestamptz '2026-01-01' + n * interval '1 minute' "
        "FROM generate_series(1, $2) AS n", author, count)


async def test_more_than_the_cap_answers_the_newest_thousand_and_says_so(client, services):
    author = (await sign_up(client))["user"]["id"]
    await _published(services, author, BULK_CAP + 1)
    r = await client.get("/api/v1/blog/bulk")
    assert r.status_code == 200
    titles = [b["title"] for b in r.json()["blogs"]]
    assert len(titles) == BULK_CAP and r.json()["capped"] is True
    assert titles[0] == f"Blog {BULK_CAP + 1}" and titles[-1] == "Blog 2"  # oldest left out


async def test_exactly_the_cap_is_not_capped(client, services):
    author = (await sign_up(client))["user"]["id"]
    await _published(services, author, BULK_CAP)
    r = await client.get("/api/v1/blog/bulk")
    assert len(r.json()["blogs"]) == BULK_CAP and r.json()["capped"] is False
