"""The settings page's picture form carries a key made when the page is rendered: sending
that form again (a double click, a reload that resends it, Back and send) stores one upload,
not a second one that would count against the quota with nothing pointing at it."""

from __future__ import annotations

import asyncio
import re

from tests.support.http import bearer, sign_up
from tests.support.images import png
from tests.support.servers import TEST_ORIGIN

FORM = re.compile(r'<form method="post" action="/settings/avatar"[^>]*>\s*'
                  r'<input type="hidden" name="idempotency_key" value="([^"]+)">')


async def rendered_key(client) -> str:
    page = await client.get("/settings")
    assert page.status_code == 200
    found = FORM.search(page.text)
    assert found, "the picture form has no key"
    return found.group(1)


async def send(client, key: str | None, picture: bytes, name: str = "me.png"):
    return await client.post("/settings/avatar", headers={"Origin": TEST_ORIGIN},
                             data={"idempotency_key": key} if key is not None else {},
                             files={"avatar": (name, picture, "image/png")})


async def uploads_of(client, session) -> list[dict]:
    return (await client.get("/api/v1/media", headers=bearer(session))).json()["items"]


async def avatar_of(client, session) -> str | None:
    me = await client.get("/api/v1/user/me", headers=bearer(session))
    assert me.status_code == 200, me.text
    return me.json()["avatar"]


async def test_the_picture_form_sent_again_stores_one_upload(client):
    ann = await sign_up(client)
    client.cookies.set("jwt", ann["jwt"])
    key, picture = await rendered_key(client), png(5, 5)
    for _ in range(3):
        r = await send(client, key, picture)
        assert r.status_code == 303, r.text
    [upload] = await uploads_of(client, ann)
    assert await avatar_of(client, ann) == upload["url"]
    usage = (await client.get("/api/v1/media/usage", headers=bearer(ann))).json()
    assert usage["files"] == 1 and usage["used_bytes"] == len(picture)
    assert await rendered_key(client) != key  # each rendering has its own


async def test_a_double_submit_at_once_stores_one_upload(client):
    ann = await sign_up(client)
    client.cookies.set("jwt", ann["jwt"])
    key, picture = await rendered_key(client), png(6, 6)
    answers = await asyncio.gather(*(send(client, key, picture) for _ in range(4)))
    assert {r.status_code for r in answers} == {303}, [r.text for r in answers]
    [upload] = await uploads_of(client, ann)
    assert await avatar_of(client, ann) == upload["url"]


async def test_the_same_form_sent_with_another_picture_asks_to_pick_it_again(client):
    ann = await sign_up(client)
    client.cookies.set("jwt", ann["jwt"])
    key = await rendered_key(client)
    assert (await send(client, key, png(4, 4))).status_code == 303
    first = await avatar_of(client, ann)
    r = await send(client, key, png(7, 7), "other.png")
    assert r.status_code == 409, r.text
    assert "already sent with another picture" in r.text
    assert FORM.search(r.text).group(1) != key  # the page comes back with a new key
    assert len(await uploads_of(client, ann)) == 1
    assert await avatar_of(client, ann) == first


async def test_a_form_without_a_key_stores_each_post(client):
    # A page rendered before the field existed: each post is a new picture, as it was.
    ann = await sign_up(client)
    client.cookies.set("jwt", ann["jwt"])
    for _ in range(2):
        assert (await send(client, None, png(3, 3))).status_code == 303
    assert len(await uploads_of(client, ann)) == 2


async def test_a_key_out_of_its_pattern_stores_nothing(client):
    # Longer than the 256 bytes the form's reader keeps: refused, not cut to a valid key.
    ann = await sign_up(client)
    client.cookies.set("jwt", ann["jwt"])
    for key in ("k" * 1000, "has space"):
        r = await send(client, key, png(3, 3))
        assert r.status_code == 422, r.text  # the page again, as for any refused picture
        assert "idempotency_key must be one value of 1 to 64" in r.text
    assert await uploads_of(client, ann) == []
