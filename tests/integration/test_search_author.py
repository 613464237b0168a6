"""The search page filters by author: by @username in its form (any case, `@` optional) or
by id (a profile's "More blogs" link); an author nobody has, or cannot be, finds nothing,
on the search page, not the 404 page."""

from __future__ import annotations

import re

import pytest

from tests.support.blogs import post
from tests.support.http import bearer, sign_up
from tests.support.people import block


def titles(html: str) -> list[str]:
    return re.findall(r'class="card-title"[^>]*>\s*<a [^>]*>([^<]+)</a>', html)


async def test_the_author_filter_takes_a_username_or_an_id(client):
    ann, bob = await sign_up(client, "Ann"), await sign_up(client, "Bob")
    await post(client, ann, "Bread by Ann")
    await post(client, bob, "Bread by Bob")
    name = ann["user"]["username"]
    for asked in (f"@{name}", name.upper(), str(ann["user"]["id"])):
        r = await client.get("/search", params={"q": "bread", "author": asked})
        assert r.status_code == 200, asked
        assert titles(r.text) == ["Bread by Ann"], asked
        # The form shows the author as the username, whichever way it was asked.
        assert re.search(rf'name="author" type="text" value="@{name}"', r.text), asked
    assert len(titles((await client.get("/search", params={"q": "bread"})).text)) == 2


UNKNOWN = (200, "Nothing found: there is no author")
NOT_A_NAME = (422, "must be a @username")


@pytest.mark.parametrize("asked, answer", [
    *[(a, UNKNOWN) for a in ("nobody", "@nobody", "99999999", "9" * 19)],
    *[(a, NOT_A_NAME) for a in ("9" * 5000, "x" * 31, "@" + "x" * 31, "<b>a b</b>", "\u00b2",
                                "@@ann")],
])
async def test_an_unknown_author_finds_nothing_and_a_non_name_is_a_field_error(client, asked,
                                                                              answer):
    """Neither is the 404 page; what cannot be a username is bounded as other fields are."""
    await post(client, await sign_up(client), "Bread")
    r = await client.get("/search", params={"author": asked, "q": "bread"})
    status, said = answer
    assert r.status_code == status
    assert titles(r.text) == []
    assert said in r.text and "<b>a b</b>" not in r.text


async def test_a_username_of_digits_is_that_user_not_the_user_with_that_id(client):
    ann, bob = await sign_up(client, "Ann"), await sign_up(client, "Bob")
    await post(client, ann, "Bread by Ann")
    await post(client, bob, "Bread by Bob")
    # A username that is also, read as a number, Bob's id.
    digits = str(bob["user"]["id"]).zfill(3)
    r = await client.patch("/api/v1/user/me", headers=bearer(ann), json={"username": digits})
    assert r.status_code == 200, r.text
    for asked in (digits, f"@{digits}"):
        r = await client.get("/search", params={"q": "bread", "author": asked})
        assert titles(r.text) == ["Bread by Ann"], asked


async def test_an_author_who_blocked_you_is_no_author_by_username_as_by_id(client, services):
    ann, reader = await sign_up(client, "Ann"), await sign_up(client, "Reader")
    await post(client, ann, "Bread by Ann")
    await block(services, ann["user"]["id"], reader["user"]["id"])
    client.cookies.set("jwt", reader["jwt"])
    for asked in (f"@{ann['user']['username']}", str(ann["user"]["id"])):
        r = await client.get("/search", params={"q": "bread", "author": asked})
        assert r.status_code == 200, asked
        assert titles(r.text) == [], asked
        assert "Nothing found: there is no author" in r.text, asked
