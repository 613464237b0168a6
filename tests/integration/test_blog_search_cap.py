"""Search ranks among the newest 2,000 matches, so a common word costs a bounded query."""

from __future__ import annotations

from nirvana.domain.blogs.search import SEARCH_CANDIDATES
from tests.support.http import sign_up


async def test_common_word_is_ranked_among_the_newest_matches_only(client, services):
    ann = await sign_up(client)
    uid = ann["user"]["id"]
    # The oldest blog is the most relevant ("common" three times in its title), but more
    # than SEARCH_CANDIDATES newer blogs also match.
    await services.pool.execute(
        "INSERT INTO blogs (author_id, title, body, status, published_at) "
        "VALUES ($1, 'common common common', 'x', 'published', now() - interval '1 year')",
        uid)
    await services.pool.execute(
        "INSERT INTO blogs (author_id, title, body, status, published_at) "
        "SELECT $1, 'post ' || i, 'a common word', 'published', now() - i * interval '1 s' "
        "FROM generate_series(1, $2) AS i", uid, SEARCH_CANDIDATES + 5)
    r = await client.get("/api/v1/blog/search", params={"q": "common", "limit": 100})
    assert r.status_code == 200, r.text
    titles = [b["title"] for b in r.json()["blogs"]]
    assert len(titles) == 100 and "common common common" not in titles
    # Narrowing the query reaches it.
    r = await client.get("/api/v1/blog/search", params={"q": "common common -word"})
    assert [b["title"] for b in r.json()["blogs"]] == ["common common common"]


async def test_searches_stay_right_past_the_point_where_plans_are_reused(client, services):
    """Each search is planned for its own term (PostgreSQL may reuse a generic plan after
    five runs of a prepared statement); answers must not change with the run count."""
    ann = await sign_up(client)
    await services.pool.execute(
        "INSERT INTO blogs (author_id, title, body, status, published_at) "
        "SELECT $1, 'post ' || i, CASE WHEN i = 7 THEN 'rare usual' ELSE 'usual' END, "
        "'published', now() - i * interval '1 s' FROM generate_series(1, 50) AS i",
        ann["user"]["id"])
    for _ in range(8):
        rare = await client.get("/api/v1/blog/search", params={"q": "rare"})
        usual = await client.get("/api/v1/blog/search", params={"q": "usual", "limit": 5})
        assert [b["title"] for b in rare.json()["blogs"]] == ["post 7"]
        assert len(usual.json()["blogs"]) == 5 and usual.json()["has_more"] is True
