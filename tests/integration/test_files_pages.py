"""The web client's "Your files", without JavaScript: your own uploads on your profile and on
/files, paged; a delete asks first, and only your own file can be asked about or deleted."""

from __future__ import annotations

import re

from tests.support.http import as_user, bearer, sign_up
from tests.support.media_files import pdf
from tests.support.servers import TEST_ORIGIN
from tests.support.writes import many_writes

ORIGIN = {"Origin": TEST_ORIGIN}
settings_with_many_writes = many_writes()


async def upload(client, session) -> dict:
    r = await client.post("/api/v1/media/upload", headers=bearer(session),
                          files={"file": ("a.pdf", pdf(), "application/pdf")})
    assert r.status_code == 201, r.text
    return r.json()


def listed(html: str) -> list[str]:
    return re.findall(r'<td class="file-name"><a href="/media/([^"?]+)', html)


async def test_your_files_are_on_your_profile_and_paged_on_files(client):
    ann, bob = await sign_up(client), await sign_up(client)
    names = [(await upload(client, ann))["name"] for _ in range(23)]
    await upload(client, bob)
    as_user(client, ann)
    profile = (await client.get(f"/people/{ann['user']['id']}")).text
    assert listed(profile) == names[::-1][:10]
    more = re.search(r'href="(/files\?cursor=[^"]+)" rel="next"', profile).group(1)
    seen, url = [], more
    while url:
        page = (await client.get(url.replace("&amp;", "&"))).text
        seen += listed(page)
        found = re.search(r'href="(/files\?cursor=[^"]+)" rel="next"', page)
        url = found.group(1) if found else None
    assert seen == names[::-1][10:]
    first = (await client.get("/files")).text
    assert listed(first) == names[::-1][:20] and "(23 files)" in first

    # Someone else's profile shows no files; their /files is their own.
    as_user(client, bob)
    assert listed((await client.get(f"/people/{ann['user']['id']}")).text) == []
    assert len(listed((await client.get("/files")).text)) == 1
    as_user(client, None)
    r = await client.get("/files", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=%2Ffiles"


async def test_a_delete_asks_first_and_only_the_owner_can(client):
    ann, bob = await sign_up(client), await sign_up(client)
    done = await upload(client, ann)
    path = f"/files/{done['name']}/delete"
    as_user(client, bob)
    assert (await client.get(path)).status_code == 404
    assert (await client.post(path, headers=ORIGIN, data={})).status_code == 404
    as_user(client, ann)
    ask = await client.get(path + "?next=/files")
    assert ask.status_code == 200 and "Delete for good" in ask.text
    assert f'action="{path}"' in ask.text and 'value="/files"' in ask.text
    usage = (await client.get("/api/v1/media/usage", headers=bearer(ann))).json()
    assert usage["files"] == 1  # asking deleted nothing
    r = await client.post(path, headers=ORIGIN, data={"next": "https://evil.example/"})
    assert r.status_code == 303 and r.headers["location"] == f"/people/{ann['user']['id']}#files"
    assert (await client.get(done["url"])).status_code == 404
    usage = (await client.get("/api/v1/media/usage", headers=bearer(ann))).json()
    assert (usage["used_bytes"], usage["files"]) == (0, 0)
    assert (await client.post(path, headers=ORIGIN, data={})).status_code == 404
