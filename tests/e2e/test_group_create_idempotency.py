"""Idempotency-Key on POST /api/v1/conversations over a real server and chat store: a
group's create retried after a lost answer answers the group already stored, and its
members hear of it once (live and in their notifications)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.support.chat_client import Client
from tests.support.people import befriend, user

pytestmark = pytest.mark.anyio
PATH = "/api/v1/conversations"


def keyed(u: dict, key: str | None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {u['jwt']}"}
    return headers | ({"Idempotency-Key": key} if key is not None else {})


async def create(live, owner: dict, key: str | None, members: list[dict], name: str = "Trip",
                 **more):
    return await live.http.post(PATH, headers=keyed(owner, key), json={
        "kind": "group", "name": name, "member_ids": [m["id"] for m in members], **more})


async def groups_of(live, u: dict) -> list[dict]:
    r = await live.http.get(PATH, headers=keyed(u, None))
    assert r.status_code == 200
    return [c for c in r.json()["conversations"] if c["kind"] == "group"]


@pytest.fixture
async def people(live):
    """Ann, and Bob and Cat, her friends."""
    ann, bob, cat = [await user(live.http) for _ in range(3)]
    for friend in (bob, cat):
        await befriend(live.services, ann["id"], friend["id"])
    return ann, bob, cat


async def heard_until(client: Client, marker: str) -> list[dict]:
    """The frames `client` receives up to the conversation.updated of `marker`."""
    frames = list(client.backlog)
    client.backlog.clear()
    while not any(f["type"] == "conversation.updated"
                  and f["conversation"]["id"] == marker for f in frames):
        frames.append(await client.recv())
    return frames


async def heard_of_once(live, ann: dict, bob: dict, bob_socket: Client, gid: str) -> None:
    """Bob heard of group `gid` once, live and in his notifications. A group made after it
    is the marker: whatever a replay or a losing twin sent Bob came before its frames."""
    marker = (await create(live, ann, None, [bob], name="Later")).json()["id"]
    heard = about(await heard_until(bob_socket, marker), gid)
    assert sorted(heard) == ["conversation.updated", "notification"], heard
    await bob_socket.close()
    notices = (await live.http.get("/api/v1/notifications",
                                   headers=keyed(bob, None))).json()["items"]
    assert [n["link"] for n in notices].count(f"/chat?c={gid}") == 1


def about(frames: list[dict], cid: str) -> list[str]:
    return [f["type"] for f in frames
            if (f.get("conversation") or {}).get("id") == cid
            or (f.get("notification") or {}).get("link", "").endswith(f"c={cid}")]


async def test_a_replay_answers_the_same_group_and_members_hear_of_it_once(live, people):
    ann, bob, cat = people
    bob_socket = await Client.connect(live.ws, bob)
    key = str(uuid.uuid4())
    first = await create(live, ann, key, [bob, cat])
    again = await create(live, ann, key, [cat, bob, cat])  # the same set of members
    assert first.status_code == again.status_code == 201, again.text
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    gid = first.json()["id"]
    assert [g["id"] for g in await groups_of(live, ann)] == [gid]
    assert [g["id"] for g in await groups_of(live, bob)] == [gid]
    await heard_of_once(live, ann, bob, bob_socket, gid)


async def test_the_same_key_for_another_group_is_refused(live, people):
    ann, bob, cat = people
    assert (await create(live, ann, "k-1", [bob])).status_code == 201
    for other in ({"members": [bob, cat]}, {"members": [bob], "name": "Other"},
                  {"members": [bob], "description": "new"}):
        r = await create(live, ann, "k-1", other.pop("members"), **other)
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "idempotency_key_reused"
    assert len(await groups_of(live, ann)) == 1


async def test_keys_are_per_user(live, people):
    ann, bob, cat = people
    await befriend(live.services, bob["id"], cat["id"])
    a = await create(live, ann, "shared", [cat])
    b = await create(live, bob, "shared", [cat])
    assert a.status_code == b.status_code == 201, b.text
    assert "idempotent-replayed" not in b.headers and a.json()["id"] != b.json()["id"]
    assert len(await groups_of(live, cat)) == 2


async def test_concurrent_twins_store_one_group_and_members_hear_of_it_once(live, people):
    ann, bob, cat = people
    bob_socket = await Client.connect(live.ws, bob)
    answers = await asyncio.gather(*(create(live, ann, "twin", [bob, cat])
                                     for _ in range(6)))
    assert {r.status_code for r in answers} == {201}, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in answers) == 1
    assert len(await groups_of(live, ann)) == 1
    gid = answers[0].json()["id"]
    await heard_of_once(live, ann, bob, bob_socket, gid)


async def test_without_a_key_each_post_creates_a_group(live, people):
    ann, bob, _ = people
    first, again = await create(live, ann, None, [bob]), await create(live, ann, None, [bob])
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] != again.json()["id"]
    assert len(await groups_of(live, ann)) == 2


async def test_a_replay_after_a_member_was_unfriended_still_answers_the_group(live, people):
    # The first attempt's checks passed; the retry's would not: the stored group answers.
    ann, bob, _ = people
    first = await create(live, ann, "before", [bob])
    await live.services.pool.execute("DELETE FROM friendships WHERE user_id = ANY($1)",
                                     [ann["id"], bob["id"]])
    again = await create(live, ann, "before", [bob])
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    r = await create(live, ann, "after", [bob])  # a new key meets the checks
    assert r.status_code == 403, r.text


async def test_a_direct_conversation_takes_a_key_and_stores_nothing_under_it(live, people):
    ann, bob, cat = people
    body = {"kind": "direct", "user_id": bob["id"]}
    first = await live.http.post(PATH, headers=keyed(ann, "d"), json=body)
    again = await live.http.post(PATH, headers=keyed(ann, "d"), json=body)
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] == first.json()["id"]
    # Not stored: the same key then creates a group.
    group = await create(live, ann, "d", [cat])
    assert group.status_code == 201 and "idempotent-replayed" not in group.headers
    bad = await live.http.post(PATH, headers=keyed(ann, "has space"), json=body)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_idempotency_key"


async def test_openapi_declares_the_key_on_conversation_creation(live):
    spec = (await live.http.get("/openapi.json")).json()
    op = spec["paths"][PATH]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in op["parameters"])
    assert "Idempotent-Replayed" in op["responses"]["201"]["headers"]
    assert "409" in op["responses"]


async def test_a_replay_by_a_creator_who_left_is_refused_as_a_read(live, people):
    ann, bob, _ = people
    first = await create(live, ann, "gone", [bob])
    gid = first.json()["id"]
    r = await live.http.delete(f"{PATH}/{gid}/members/{ann['id']}", headers=keyed(ann, None))
    assert r.status_code == 204, r.text
    again = await create(live, ann, "gone", [bob])
    assert again.status_code == 403, again.text
    assert again.json()["error"]["code"] == "not_member"
    assert [g["id"] for g in await groups_of(live, bob)] == [gid]
