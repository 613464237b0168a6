"""The search page filters by author: by @username in its form (any case, `@` optional) or
by id (a profile's "More blogs" link); an author nobody has, or cannot be, finds nothing,
on the search page, not the 404 page."""

from __future__ import annotations

import re

import pytest

from tests.support.blogs import post
from tests.support.http import sign_up


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


@pytest.mark.parametrize("asked", ["nobody", "@nobody", "99999999", "9" * 5000, "x" * 31,
                                   "<b>a b</b>", "\u00b2"])
async def test_an_unknown_author_finds_nothing_not_the_404_page(client, asked):
    await post(client, await sign_up(client), "Bread")
    r = await client.get("/search", params={"author": asked, "q": "bread"})
    assert r.status_code == 200
    assert titles(r.text) == []
    assert "Nothing found: there is no author" in r.text
    assert "<b>a b</b>" not in r.text
