"""Scheduled blogs against the real PostgreSQL: hidden until due, then published by the
server's publisher exactly once, also after a downtime, and announced."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from nirvana.blog_publisher import ScheduledPublisher
from nirvana.domain.blogs.service import Blogs
from nirvana.security import SystemClock
from nirvana.storage.postgres.blog_comments import PgCommentRepository
from nirvana.storage.postgres.blogs import PgBlogRepository
from tests.support.http import bearer, sign_up


def soon(seconds: float) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


async def schedule(client, session, title: str, at: str) -> dict:
    r = await client.post("/api/v1/blog", headers=bearer(session), json={
        "title": title, "body": f"Body of {title}", "status": "scheduled", "published_at": at})
    assert r.status_code == 201, r.text
    return r.json()


async def public_everywhere(client, blog: dict) -> list[bool]:
    """Whether an anonymous reader finds the blog: alone, in the feed, in paginated_bulk,
    in bulk and in search."""
    one = (await client.get(f"/api/v1/blog/{blog['id']}")).status_code == 200
    lists = [await client.get("/api/v1/feed"), await client.get("/api/v1/blog/paginated_bulk"),
             await client.get("/api/v1/blog/bulk"),
             await client.get("/api/v1/blog/search", params={"q": blog["title"]})]
    return [one] + [blog["id"] in [b["id"] for b in r.json()["blogs"]] for r in lists]


async def wait_until(check, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)


async def test_a_scheduled_blog_is_published_by_the_server_at_its_time(client, services):
    heard = []
    services.blog_events.subscribe(heard.append)
    ann = await sign_up(client)
    blog = await schedule(client, ann, "Scheduled news", soon(1.5))
    assert blog["status"] == "scheduled"
    client.cookies.clear()
    assert await public_everywhere(client, blog) == [False] * 5
    r = await client.get("/api/v1/blog/paginated_bulk")
    assert r.json()["total"] == 0  # the published counter ignores it too
    services.start_publisher()
    await wait_until(lambda: _published(client, blog))
    assert await public_everywhere(client, blog) == [True] * 5
    got = (await client.get(f"/api/v1/blog/{blog['id']}")).json()
    assert got["published_at"] == blog["published_at"]
    assert (await client.get("/api/v1/blog/paginated_bulk")).json()["total"] == 1
    assert [(e.blog_id, e.slug) for e in heard] == [(blog["id"], "scheduled-news")]


async def _published(client, blog: dict) -> bool:
    r = await client.get(f"/api/v1/blog/{blog['id']}")
    return r.status_code == 200 and r.json()["status"] == "published"


async def test_blogs_due_while_the_server_was_down_are_published_at_start(client, services):
    ann = await sign_up(client)
    blog = await schedule(client, ann, "Written before the outage", soon(0.3))
    await asyncio.sleep(0.5)  # due, with no publisher running: the server is "down"
    assert not await _published(client, blog)
    services.start_publisher()  # the next start
    await wait_until(lambda: _published(client, blog), timeout=5)


async def test_two_processes_publish_each_blog_exactly_once(client, services):
    ann = await sign_up(client)
    made = [await schedule(client, ann, f"Race {n}", soon(0.3)) for n in range(20)]
    await asyncio.sleep(0.5)
    heard: list[list] = [[], []]
    processes = []
    for log in heard:
        blogs = Blogs(blogs=PgBlogRepository(services.pool),
                      comments=PgCommentRepository(services.pool), clock=SystemClock(),
                      events=_Recorder(log))
        processes.append(blogs)
    await asyncio.gather(*(p.publish_due() for p in processes for _ in range(3)))
    announced = sorted(e.blog_id for log in heard for e in log)
    assert announced == sorted(b["id"] for b in made)


class _Recorder:
    def __init__(self, log: list) -> None:
        self._log = log

    async def publish(self, event) -> None:
        self._log.append(event)


async def test_scheduling_over_http_refuses_a_past_time_and_keeps_it_private(client):
    ann, bob = await sign_up(client), await sign_up(client)
    h = bearer(ann)
    body = {"title": "T", "body": "B", "status": "scheduled"}
    for extra in ({}, {"published_at": soon(-60)}):
        r = await client.post("/api/v1/blog", headers=h, json={**body, **extra})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["field"] == "published_at"
    r = await client.post("/api/v1/blog", headers=h, json={
        "title": "T", "body": "B", "published_at": soon(60)})
    assert r.status_code == 422  # a time only goes with status scheduled
    # A time is an ISO 8601 date-time, as /openapi.json says: digits are not read as Unix
    # seconds (here they would schedule it for 2030), neither in a body nor in a search.
    for digits in ("1893456000", "1893456000.5"):
        r = await client.post("/api/v1/blog", headers=h, json={**body, "published_at": digits})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"][0]["field"] == "published_at"
        r = await client.get("/api/v1/blog/search", params={"from": digits})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "from"
    blog = await schedule(client, ann, "Later", soon(3600))
    assert (await client.get(f"/api/v1/blog/{blog['id']}", headers=h)).status_code == 200
    r = await client.get(f"/api/v1/blog/slug/{blog['slug']}", headers=bearer(bob))
    assert r.status_code == 404
    r = await client.post(f"/api/v1/blog/{blog['id']}/like", headers=bearer(bob))
    assert r.status_code == 404
    r = await client.post(f"/api/v1/blog/{blog['id']}/like", headers=h)
    assert r.status_code == 409
    stats = (await client.get("/api/v1/blog/stats", headers=h)).json()
    assert stats == {"blogs": 1, "published": 0, "total_likes": 0}
    # Moved, then published now by its author: announced once, dated now.
    later = soon(7200)
    r = await client.put(f"/api/v1/blog/{blog['id']}", headers=h,
                         json={"updated_at": blog["updated_at"], "published_at": later})
    assert r.status_code == 200 and r.json()["status"] == "scheduled"
    assert datetime.fromisoformat(r.json()["published_at"]) == datetime.fromisoformat(later)
    r = await client.put(f"/api/v1/blog/{blog['id']}", headers=h,
                         json={"updated_at": r.json()["updated_at"], "status": "published"})
    assert r.status_code == 200 and r.json()["published_at"] == r.json()["updated_at"]


async def test_the_publisher_wakes_for_a_schedule_set_while_it_sleeps(client, services):
    # A long poll: only the wake from the new schedule can make it publish in time.
    publisher = ScheduledPublisher(services.blogs, services.clock, poll=3600)
    task = asyncio.get_running_loop().create_task(publisher.run())
    try:
        await asyncio.sleep(0.2)  # asleep, with nothing scheduled
        ann = await sign_up(client)
        blog = await schedule(client, ann, "Wake up", soon(0.5))
        await wait_until(lambda: _published(client, blog), timeout=5)
    finally:
        task.cancel()


async def test_a_scheduled_blog_tells_its_authors_followers_when_it_is_published(
        client, services):
    # The publisher sends the same BlogPublished as a direct publication: notifications
    # subscribe to that one event, so no path of publishing forgets the followers.
    ann, bob = await sign_up(client), await sign_up(client)
    r = await client.post(f"/api/v1/follows/{ann['user']['id']}", headers=bearer(bob))
    assert r.status_code in (200, 201, 204), r.text
    blog = await schedule(client, ann, "Later news", soon(1.0))

    async def new_blogs() -> list[dict]:
        r = await client.get("/api/v1/notifications", headers=bearer(bob))
        return [n for n in r.json()["items"] if n["kind"] == "new_blog"]

    assert await new_blogs() == []  # scheduled is not yet public: nobody is told
    services.start_publisher()
    await wait_until(lambda: _published(client, blog))
    await wait_until(lambda: _nonempty(new_blogs))
    [told] = await new_blogs()
    assert told["blog_id"] == blog["id"] and told["actors"][0]["id"] == ann["user"]["id"]


async def _nonempty(fetch) -> bool:
    return bool(await fetch())
