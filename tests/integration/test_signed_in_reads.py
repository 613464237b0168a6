"""A signed-in reader of one blog gets their own answer: the kept anonymous bytes only when
those are exactly theirs (no block with the author, no reaction of theirs), else one built
for them, whatever anonymous readers were answered before."""

from __future__ import annotations

from tests.support.http import bearer, sign_up
from tests.support.people import befriend, block


async def post(client, session, title: str, audience: str = "public") -> dict:
    r = await client.post("/api/v1/blog", headers=bearer(session),
                          json={"title": title, "body": "Pears.", "audience": audience})
    assert r.status_code == 201, r.text
    return r.json()


async def test_one_blog_signed_in_is_the_readers_own_answer(client, services):
    ann, bob, cid = [await sign_up(client) for _ in range(3)]
    blog = await post(client, ann, "Perry")
    one = f"/api/v1/blog/{blog['id']}"
    for _ in range(3):  # kept for anonymous readers, and answered before routing
        anonymous = await client.get(one)
    assert anonymous.status_code == 200

    # Bob: nothing of his own on it, so the anonymous answer is his.
    assert (await client.get(one, headers=bearer(bob))).json() == anonymous.json()
    # His reaction shows at once.
    r = await client.put(one + "/reaction", json={"kind": "haha"}, headers=bearer(bob))
    assert r.status_code == 200, r.text
    mine = (await client.get(one, headers=bearer(bob))).json()
    assert mine["my_reaction"] == "haha" and mine["reactions"]["haha"] == 1
    assert (await client.get(one)).json()["my_reaction"] is None
    # Cid and Ann fall out: the blog is gone for him, whoever blocked whom.
    await block(services, ann["user"]["id"], cid["user"]["id"])
    assert (await client.get(one, headers=bearer(cid))).status_code == 404
    assert (await client.get(one, headers=bearer(ann))).json()["title"] == "Perry"
    # A friends-only blog is never kept: built for its readers.
    secret = await post(client, ann, "Perry friends", "friends")
    await befriend(services, ann["user"]["id"], bob["user"]["id"])
    path = f"/api/v1/blog/{secret['id']}"
    assert (await client.get(path)).status_code == 404
    assert (await client.get(path, headers=bearer(bob))).json()["title"] == "Perry friends"
