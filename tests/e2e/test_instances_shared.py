"""Two run.py instances on one Redis: what they share besides frames — rate limits that a
client does not escape by switching instance, and caches that follow a change made on the
other instance."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.instances import instances, shared_databases  # noqa: F401 (fixtures)
from tests.support.redis_server import redis_server  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


async def test_a_sign_in_lock_holds_when_the_client_switches_instance(instances):
    first, second = await instances.start(2)
    async with (httpx.AsyncClient(base_url=first.url) as on_first,
                httpx.AsyncClient(base_url=second.url) as on_second):
        email = (await sign_up(on_first))["user"]["email"]
        wrong = {"email": email, "password": "not the password"}
        # Ten wrong guesses for one account from one address lock it (AccountPolicy), five
        # on each instance: neither alone saw ten.
        for attempt in range(10):
            http = on_first if attempt % 2 == 0 else on_second
            r = await http.post("/api/v1/user/signin", json=wrong)
            assert r.status_code == 401, r.text
        await asyncio.sleep(0.2)  # the relay's delay is milliseconds
        for http in (on_first, on_second):
            r = await http.post("/api/v1/user/signin",
                                json={"email": email, "password": PASSWORD})
            assert r.status_code == 429, r.text
            assert r.json()["error"]["code"] == "rate_limited"


async def test_caches_follow_changes_made_on_the_other_instance(instances):
    first, second = await instances.start(2)
    async with (httpx.AsyncClient(base_url=first.url) as on_first,
                httpx.AsyncClient(base_url=second.url) as on_second):
        ann, bob, cat = [await sign_up(on_first) for _ in range(3)]
        # The user cache: bob's record is cached on the second instance, then changed on
        # the first.
        assert (await on_second.get("/api/v1/user/me", headers=bearer(bob))).status_code == 200
        r = await on_first.patch("/api/v1/user/me", json={"name": "Bob Renamed"},
                                 headers=bearer(bob))
        assert r.status_code == 200, r.text
        await asyncio.sleep(0.2)
        r = await on_second.get("/api/v1/user/me", headers=bearer(bob))
        assert r.json()["name"] == "Bob Renamed"

        # The chat conversation cache: bob reads a group on the second instance, is removed
        # from it on the first (the writer), and may read it no more on the second.
        for friend in (bob, cat):
            r = await on_first.post(f"/api/v1/friends/requests/{friend['user']['id']}",
                                    headers=bearer(ann))
            assert r.status_code in (200, 201), r.text
            r = await on_first.post(f"/api/v1/friends/requests/{ann['user']['id']}/accept",
                                    headers=bearer(friend))
            assert r.status_code in (200, 201, 204), r.text
        r = await on_first.post("/api/v1/conversations", headers=bearer(ann), json={
            "kind": "group", "name": "Trip",
            "member_ids": [bob["user"]["id"], cat["user"]["id"]]})
        assert r.status_code == 201, r.text
        cid = r.json()["id"]
        history = f"/api/v1/conversations/{cid}/messages"
        assert (await on_second.get(history, headers=bearer(bob))).status_code == 200
        r = await on_first.delete(f"/api/v1/conversations/{cid}/members/{bob['user']['id']}",
                                  headers=bearer(ann))
        assert r.status_code == 200, r.text
        await asyncio.sleep(0.2)
        r = await on_second.get(history, headers=bearer(bob))
        assert r.status_code in (403, 404), r.text
        assert (await on_second.get(history, headers=bearer(cat))).status_code == 200


async def test_anonymous_pages_kept_on_one_instance_follow_a_publish_on_another(instances):
    first, second = await instances.start(2)
    async with (httpx.AsyncClient(base_url=first.url) as on_first,
                httpx.AsyncClient(base_url=second.url) as on_second):
        ann = await sign_up(on_first)

        async def titles() -> list[str]:  # anonymous: the kept page
            r = await on_second.get("/api/v1/feed")
            assert r.status_code == 200, r.text
            return [b["title"] for b in r.json()["blogs"]]

        r = await on_first.post("/api/v1/blog", headers=bearer(ann),
                                json={"title": "First news", "body": "words"})
        assert r.status_code == 201, r.text
        await asyncio.sleep(0.2)
        assert await titles() == ["First news"]  # built and kept on the second instance
        assert await titles() == ["First news"]
        r = await on_first.post("/api/v1/blog", headers=bearer(ann),
                                json={"title": "Second news", "body": "words"})
        assert r.status_code == 201, r.text
        await asyncio.sleep(0.2)  # the relay's delay; far below the page's own age bounds
        assert await titles() == ["Second news", "First news"]
        blog_id = r.json()["id"]
        r = await on_first.delete(f"/api/v1/blog/{blog_id}", headers=bearer(ann))
        assert r.status_code == 204, r.text
        await asyncio.sleep(0.2)
        assert await titles() == ["First news"]
