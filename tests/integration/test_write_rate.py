"""The per-user write rate (WRITES_PER_MINUTE): every state-changing request of a signed-in
user counts; past the budget, 429 with Retry-After and the IETF RateLimit headers."""

from __future__ import annotations

import re

import pytest

from tests.support.clock import FakeClock
from tests.support.http import bearer, sign_up
from tests.support.moderation import publish


@pytest.fixture
def services_clock() -> FakeClock:
    # The budget is counted per minute of the services' clock, the minute before weighing
    # less as the next goes on (domain/ratelimit.py): a burst the wall clock cut at a
    # minute's turn was given a write more. These bursts happen in one instant.
    return FakeClock()


async def test_sixty_comments_in_a_row_are_not_all_accepted_by_default(client, settings):
    assert settings.writes_per_minute == 30  # the default the harness leaves alone
    author, writer = await sign_up(client), await sign_up(client)
    blog = await publish(client, author)
    statuses = []
    for n in range(60):
        r = await client.post(f"/api/v1/blog/{blog['id']}/comments", headers=bearer(writer),
                              json={"body": f"comment {n}"})
        statuses.append(r.status_code)
    assert statuses[:30] == [201] * 30
    assert set(statuses[30:]) == {429}
    r = await client.get(f"/api/v1/blog/{blog['id']}/comments?limit=100")
    assert r.json()["total"] == 30


async def test_a_refused_write_says_when_to_retry_and_the_policy(client):
    author, writer = await sign_up(client), await sign_up(client)
    blog = await publish(client, author)
    path = f"/api/v1/blog/{blog['id']}/like"
    remaining = []
    for _ in range(30):
        r = await client.post(path, headers=bearer(writer))
        assert r.status_code == 200, r.text
        assert r.headers["RateLimit-Policy"] == '"writes";q=30;w=60'
        remaining.append(int(re.fullmatch(r'"writes";r=(\d+);t=\d+',
                                          r.headers["RateLimit"]).group(1)))
    assert remaining == list(range(29, -1, -1))
    r = await client.post(path, headers=bearer(writer))
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert r.headers["RateLimit-Policy"] == '"writes";q=30;w=60'
    assert re.fullmatch(r'"writes";r=0;t=\d+', r.headers["RateLimit"])
    # Reads go on, and so do other people's writes.
    assert (await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(writer))
            ).status_code == 200
    assert (await client.post(path, headers=bearer(author))).status_code == 200


async def test_the_web_client_forms_count_as_writes(client, settings):
    author, writer = await sign_up(client), await sign_up(client)
    blog = await publish(client, author)
    client.cookies.set("jwt", writer["jwt"])
    origin = {"Origin": client.base_url.scheme + "://" + client.base_url.netloc.decode()}
    statuses = []
    for n in range(31):
        r = await client.post(f"/blogs/{blog['id']}/comments", headers=origin, data={"body": f"form comment {n}"})
        statuses.append(r.status_code)
    assert 429 not in statuses[:30] and statuses[30] == 429, statuses
