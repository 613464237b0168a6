"""Scheduled publishing across a restart, checked from outside as
test_outside_publishing.py checks the rest (docs/blogs.md, "Scheduled blogs"): a post that falls
due while the server is down is published once at the next start, and its followers told."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.outside_client import Server, connected, poll
from tests.support.outside_client import fresh_databases  # noqa: F401 (fixture)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def test_a_post_due_while_the_server_is_down_is_published_once_at_the_next_start(
        fresh_databases):
    data_dir, env = fresh_databases
    server = Server(data_dir, env)
    try:
        async with connected(server.url) as c:
            ann, reader = await c.person("Ann"), await c.person("Flo")
            await c.api("POST", f"/api/v1/follows/{ann.id}", reader)
        # The post must fall due while the server is down: if stopping took longer than the
        # margin (a busy machine), try again with a larger one.
        for margin in (2, 5, 15, 45):
            async with connected(server.url) as c:
                due = datetime.now(timezone.utc) + timedelta(seconds=margin)
                blog = await c.blog(ann, title="While you slept", status="scheduled",
                                    published_at=due.isoformat())
            server.stop()
            if datetime.now(timezone.utc) < due:
                break
            server.start()
        else:
            pytest.fail("the server never stopped within 45 s of a post's scheduling")
        while datetime.now(timezone.utc) < due:  # down when it falls due
            await asyncio.sleep(0.05)
        server.start()
        async with connected(server.url) as c:
            async def published():
                r = await c.api("GET", f"/api/v1/blog/{blog['id']}", reader)
                return r.json() if r.status_code == 200 else None

            shown = await poll("published at the next start", published)
            assert shown["published_at"] == blog["published_at"]

            # Announced after the publication commits (docs/blogs.md), so the blog can be
            # seen a moment before its followers are told.
            async def told():
                r = await c.api("GET", "/api/v1/notifications", reader)
                items = [n for n in r.json()["items"] if n["blog_id"] == blog["id"]]
                return items or None

            assert len(await poll("the follower told of the post", told)) == 1
            assert c.contract.broken == [], "\n".join(c.contract.broken)
    finally:
        server.stop()
