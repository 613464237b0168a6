"""Group chat notifications over a real server: being added to a group (at its creation or
later) and being made admin or owner notify, live and in the list; a removal withdraws the
unread "added" notification; one's own actions and demotions tell nobody. An @mention of a
username with a dot tells that user, not the one named by its part before the dot."""

from __future__ import annotations

import secrets

import pytest

from tests.support.chat_client import Client
from tests.support.http import bearer, sign_up
from tests.support.people import befriend
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio

ADDED = ("added_to_group", "Ann added you to Trip")
PROMOTED = ("group_role", "Ann made you an admin of Trip")


async def named(live, name: str, **extra) -> dict:
    session = await sign_up(live.http, name=name, **extra)
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


async def test_a_mention_of_a_dotted_username_tells_that_user_not_its_prefix(live):
    # Mo's username is the start of Ny's: "@<ny>" must not stop at the dot and tell Mo.
    mo_name = f"mo{secrets.token_hex(3)}"
    ann = await named(live, "Ann")
    mo, ny, cat = [await named(live, n, username=u)
                   for n, u in (("Mo", mo_name), ("Ny", f"{mo_name}.ny"), ("Cat", "cat_1"))]
    for other in (mo, ny, cat):
        await befriend(live.services, ann["id"], other["id"])
    created = await live.http.post("/api/v1/conversations", headers=bearer(ann), json={
        "kind": "group", "name": "Trip", "member_ids": [mo["id"], ny["id"], cat["id"]]})
    gid = created.json()["id"]
    owner = await Client.connect(live.ws, ann)
    await owner.command("send", conversation_id=gid, client_id="m1",
                        text=f"@{mo_name}.ny can you look? @cat_1 too")
    mentioned = ("mentioned", "Ann mentioned you in Trip")
    # Cat is mentioned last: once Cat is told, every mention of the message was delivered.
    await wait_until(listing(live, cat, [mentioned, ADDED]), "Cat told of the mention")
    assert await listed(live, ny) == [mentioned, ADDED]
    assert await listed(live, mo) == [ADDED]
    # A dot ending the sentence is punctuation.
    await owner.command("send", conversation_id=gid, client_id="m2", text=f"Thanks @{mo_name}.")
    await wait_until(listing(live, mo, [mentioned, ADDED]), "Mo told of the second mention")
    await owner.close()
