"""A blog stored before its title and tags were held to one line (an older release let a tab
or line break in) can still be edited, through the API and the web editor: an edit checks
the fields it changes, and what the blog holds stands."""

from __future__ import annotations

from tests.support.http import as_user, bearer, sign_up
from tests.support.servers import TEST_ORIGIN

OLD_TITLE = "Written\tbefore"
OLD_TAG = "two\nlines"


async def older_blog(client, services, ann) -> dict:
    r = await client.post("/api/v1/blog", headers=bearer(ann),
                          json={"title": "Title", "body": "Body", "tags": ["tag"]})
    assert r.status_code == 201, r.text
    blog = r.json()
    await services.pool.execute("UPDATE blogs SET title = $1, tags = $2 WHERE id = $3",
                                OLD_TITLE, [OLD_TAG], blog["id"])
    return blog


async def test_an_older_blog_is_edited_through_the_api(client, services):
    ann = await sign_up(client)
    blog = await older_blog(client, services, ann)
    url = f"/api/v1/blog/{blog['id']}"
    r = await client.put(url, headers=bearer(ann),
                         json={"updated_at": blog["updated_at"], "body": "A new body"})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert (edited["title"], edited["tags"], edited["body"]) == (OLD_TITLE, [OLD_TAG],
                                                                 "A new body")
    # What the edit changes is still held to the rule.
    r = await client.put(url, headers=bearer(ann),
                         json={"updated_at": edited["updated_at"], "title": "New\ttitle"})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["details"][0]["field"] == "title"


async def test_an_older_blog_is_edited_in_the_web_editor(client, services):
    ann = await sign_up(client)
    blog = await older_blog(client, services, ann)
    as_user(client, ann)
    # The editor sends every field back, the unchanged title and tags as they were.
    r = await client.post(f"/blogs/{blog['id']}/edit", headers={"Origin": TEST_ORIGIN}, data={
        "title": OLD_TITLE, "body": "Edited in the page", "tags": OLD_TAG,
        "updated_at": blog["updated_at"], "status": "published"})
    assert r.status_code == 303, r.text
    r = await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(ann))
    assert (r.json()["title"], r.json()["tags"], r.json()["body"]) == (
        OLD_TITLE, [OLD_TAG], "Edited in the page")
