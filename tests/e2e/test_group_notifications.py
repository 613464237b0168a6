"""Group chat notifications over a real server: being added to a group (at its creation or
later) and being made admin or owner notify, live and in the list; a removal withdraws the
unread "added" notification; one's own actions and demotions tell nobody."""

from __future__ import annotations

import pytest

from tests.support.chat_client import Client
from tests.support.http import bearer, sign_up
from tests.support.people import befriend
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio

ADDED = ("added_to_group", "Ann added you to Trip")
PROMOTED = ("group_role", "Ann made you an admin of Trip")


async def named(live, name: str) -> dict:
    session = await sign_up(live.http, name=name)
    return {"id": session["user"]["id"], "jwt": session["jwt"]}


async def listed(live, u) -> list[tuple[str, str]]:
    r = await live.http.get("/api/v1/notifications", headers=bearer(u))
    assert r.status_code == 200
    return [(n["kind"], n["text"]) for n in r.json()["items"]]


def listing(live, u, expected):
    async def check() -> bool:
        return await listed(live, u) == expected
    return check


async def test_added_and_promoted_members_are_told_and_a_removal_withdraws(live):
    ann, bob, cat, dan = [await named(live, n) for n in ("Ann", "Bob", "Cat", "Dan")]
    for other in (bob, cat, dan):
        await befriend(live.services, ann["id"], other["id"])
    owner = await Client.connect(live.ws, ann)
    bob_socket = await Client.connect(live.ws, bob)
    assert (await bob_socket.expect("notifications.unread"))["unread"] == 0

    created = await live.http.post("/api/v1/conversations", headers=bearer(ann), json={
        "kind": "group", "name": "Trip", "member_ids": [bob["id"], cat["id"]]})
    assert created.status_code == 201
    gid = created.json()["id"]
    told = (await bob_socket.expect("notification"))["notification"]
    assert (told["kind"], told["text"]) == ADDED and told["link"] == f"/chat?c={gid}"
    await wait_until(listing(live, cat, [ADDED]), "Cat told of the new group")
    assert await listed(live, ann) == []  # nothing about your own actions

    await owner.command("add_members", conversation_id=gid, user_ids=[dan["id"]])
    await wait_until(listing(live, dan, [ADDED]), "Dan told he was added")
    await owner.command("remove_members", conversation_id=gid, user_ids=[dan["id"]])
    await wait_until(listing(live, dan, []), "Dan's notification withdrawn")

    await owner.command("set_role", conversation_id=gid, user_id=bob["id"], role="admin")
    told = (await bob_socket.expect("notification"))["notification"]
    assert (told["kind"], told["text"]) == PROMOTED
    await owner.command("set_role", conversation_id=gid, user_id=bob["id"], role="member")
    await owner.command("set_role", conversation_id=gid, user_id=cat["id"], role="admin")
    await wait_until(listing(live, cat, [PROMOTED, ADDED]), "Cat told of her role")
    # Bob's demotion told him nothing: his list is as it was.
    assert await listed(live, bob) == [PROMOTED, ADDED]
    for client in (owner, bob_socket):
        await client.close()
