"""A notification is shown only while what it names stands for its reader (docs/protocol.md,
Notifications): one about a blog while they may read the blog, a friend request or a follow
while its sender's account exists. Over the real API and PostgreSQL."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from nirvana.domain.moderation.entities import Role
from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.moderation import act, publish, signed_up_with_role

pytestmark = pytest.mark.anyio


@pytest.fixture
def database_url(server_urls) -> str:
    return server_urls[0]


def uid(session: dict) -> int:
    return session["user"]["id"]


async def shown(client, session) -> tuple[list[tuple[str, int | None]], int]:
    """(kind, blog_id) of the list, and the unread count of the count route (which must
    agree with the list's own)."""
    r = await client.get("/api/v1/notifications", headers=bearer(session))
    assert r.status_code == 200, r.text
    body = r.json()
    unread = (await client.get("/api/v1/notifications/unread",
                               headers=bearer(session))).json()["unread"]
    assert body["unread"] == unread
    return [(n["kind"], n["blog_id"]) for n in body["items"]], unread


async def follower_of(client, author: dict) -> dict:
    reader = await sign_up(client)
    r = await client.post(f"/api/v1/follows/{uid(author)}", headers=bearer(reader))
    assert r.status_code == 201, r.text
    return reader


async def test_a_hidden_blog_leaves_its_readers_lists_and_comes_back_when_shown(
        client, database_url):
    author, commenter = await sign_up(client), await sign_up(client)
    reader = await follower_of(client, author)
    moderator = await signed_up_with_role(client, database_url, Role.MODERATOR)
    blog = await publish(client, author, title="Secret plans",
                         body=f"for @{reader['user']['username']}")
    r = await client.post(f"/api/v1/blog/{blog['id']}/comments", headers=bearer(commenter),
                          json={"body": "noted"})
    assert r.status_code == 201, r.text
    # The mention told the reader (a mention is not also a new_blog).
    assert await shown(client, reader) == ([("mentioned", blog["id"])], 1)
    about_blog = [("blog_commented", blog["id"]), ("new_follower", None)]
    assert await shown(client, author) == (about_blog, 2)

    [held] = (await client.get("/api/v1/notifications", headers=bearer(reader))).json()["items"]

    target = {"kind": "blog", "id": blog["id"]}
    assert (await act(client, moderator, "hide_blog", target)).status_code == 201
    assert await shown(client, reader) == ([], 0)
    # Its author still reads it, and so still sees what it is told about it.
    assert await shown(client, author) == (about_blog, 2)
    # Out of sight is out of reach: the id the reader held is 404 to mark read or delete.
    one = f"/api/v1/notifications/{held['id']}"
    for method, path in [("POST", one + "/read"), ("DELETE", one)]:
        r = await client.request(method, path, headers=bearer(reader))
        assert r.status_code == 404 and r.json()["error"]["code"] == "notification_not_found"

    assert (await act(client, moderator, "show_blog", target)).status_code == 201
    assert await shown(client, reader) == ([("mentioned", blog["id"])], 1)


async def test_a_narrowed_audience_takes_the_blog_off_the_lists_of_who_left_it(client):
    author = await sign_up(client)
    reader = await follower_of(client, author)
    blog = await publish(client, author, title="Soon friends only")
    assert await shown(client, reader) == ([("new_blog", blog["id"])], 1)

    r = await client.put(f"/api/v1/blog/{blog['id']}", headers=bearer(author),
                         json={"updated_at": blog["updated_at"], "audience": "friends"})
    assert r.status_code == 200, r.text
    assert (await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(reader))
            ).status_code == 404
    assert await shown(client, reader) == ([], 0)
    narrowed = r.json()
    # Marking "all read" while it is out of sight leaves it unread for when it comes back.
    r = await client.post("/api/v1/notifications/read", headers=bearer(reader))
    assert r.json() == {"unread": 0}

    # A follower reads a followers-only blog: widened, it is back, still unread.
    r = await client.put(f"/api/v1/blog/{blog['id']}", headers=bearer(author),
                         json={"updated_at": narrowed["updated_at"], "audience": "followers"})
    assert r.status_code == 200, r.text
    assert await shown(client, reader) == ([("new_blog", blog["id"])], 1)
    # Unpublished (a draft again), it is out of sight once more.
    r = await client.put(f"/api/v1/blog/{blog['id']}", headers=bearer(author),
                         json={"updated_at": r.json()["updated_at"], "status": "draft"})
    assert r.status_code == 200, r.text
    assert await shown(client, reader) == ([], 0)


async def test_a_new_blog_written_after_its_blog_was_hidden_is_never_shown(
        client, database_url):
    """The race of a fan-out in flight with a hide, with the hide first: the fan-out's rows
    are stored, shown to nobody who may not read the blog, and back when it is shown."""
    author = await sign_up(client)
    reader = await follower_of(client, author)
    moderator = await signed_up_with_role(client, database_url, Role.MODERATOR)
    blog = await publish(client, author, title="Raced", status="draft")
    assert (await act(client, moderator, "hide_blog", {"kind": "blog", "id": blog["id"]})
            ).status_code == 201
    r = await client.put(f"/api/v1/blog/{blog['id']}", headers=bearer(author),
                         json={"updated_at": blog["updated_at"], "status": "published"})
    assert r.status_code == 200, r.text
    # Published while hidden: the announcement's fan-out wrote after the hide.
    assert await shown(client, reader) == ([], 0)
    assert (await act(client, moderator, "show_blog", {"kind": "blog", "id": blog["id"]})
            ).status_code == 201
    assert await shown(client, reader) == ([("new_blog", blog["id"])], 1)


async def test_a_deleted_account_takes_its_friend_request_follow_and_like_with_it(client):
    ann, kay, lou = await sign_up(client), await sign_up(client), await sign_up(client)
    # Lou accepts a request of Ann's: Ann is told, until Lou's account goes.
    r = await client.post(f"/api/v1/friends/requests/{uid(lou)}", headers=bearer(ann))
    assert r.status_code in (200, 201), r.text
    r = await client.post(f"/api/v1/friends/requests/{uid(ann)}/accept", headers=bearer(lou))
    assert r.status_code in (200, 201, 204), r.text
    liked, shared = await publish(client, ann, title="Liked"), await publish(client, ann)
    for liker, blog in [(kay, liked), (kay, shared), (lou, shared)]:
        r = await client.post(f"/api/v1/blog/{blog['id']}/like", headers=bearer(liker))
        assert r.status_code in (200, 201, 204), r.text
    r = await client.post(f"/api/v1/follows/{uid(ann)}", headers=bearer(kay))
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/friends/requests/{uid(ann)}", headers=bearer(kay))
    assert r.status_code in (200, 201), r.text
    kinds, unread = await shown(client, ann)
    assert sorted(kinds) == [("blog_liked", liked["id"]), ("blog_liked", shared["id"]),
                             ("friend_accepted", None), ("friend_request", None),
                             ("new_follower", None)]
    assert unread == 5

    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(kay),
                             json={"password": PASSWORD})
    assert r.status_code == 204, r.text
    # Lou's like of the shared blog and acceptance stand, and so do their notifications.
    assert sorted((await shown(client, ann))[0]) == [("blog_liked", shared["id"]),
                                                     ("friend_accepted", None)]
    r = await client.request("DELETE", "/api/v1/user/me", headers=bearer(lou),
                             json={"password": PASSWORD})
    assert r.status_code == 204, r.text
    assert await shown(client, ann) == ([], 0)


async def test_a_block_hides_a_third_partys_mention_on_the_blocked_authors_blog(
        client, services):
    """A block withdraws what either told the other; a mention by someone else on the
    blocked author's blog is withdrawn by nobody, and the reading rule's block condition
    alone keeps it from the list, the count and the data export (lifted, it is back)."""
    ann, bob, cat = await sign_up(client), await sign_up(client), await sign_up(client)
    blog = await publish(client, bob, title="Bob's thoughts")
    r = await client.post(f"/api/v1/blog/{blog['id']}/comments", headers=bearer(cat),
                          json={"body": f"@{ann['user']['username']} look"})
    assert r.status_code == 201, r.text
    assert await shown(client, ann) == ([("mentioned", blog["id"])], 1)

    r = await client.post(f"/api/v1/blocks/{uid(bob)}", headers=bearer(ann))
    assert r.status_code in (200, 201, 204), r.text
    assert await shown(client, ann) == ([], 0)
    r = await client.post("/api/v1/user/exports", headers=bearer(ann))
    assert r.status_code == 202, r.text
    assert await services.exports.build_next() is not None
    [export] = (await client.get("/api/v1/user/exports", headers=bearer(ann))).json()["exports"]
    r = await client.get(export["download_url"], headers=bearer(ann))
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        exported = json.loads(archive.read("notifications.json"))
    assert [n["kind"] for n in exported] == []

    r = await client.delete(f"/api/v1/blocks/{uid(bob)}", headers=bearer(ann))
    assert r.status_code in (200, 204), r.text
    # The export's own "ready" notice came meanwhile.
    assert await shown(client, ann) == ([("notice", None), ("mentioned", blog["id"])], 2)
