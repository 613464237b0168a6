"""The moderation pages of the web client, without JavaScript: a report form, the queue and
its action forms, the audit log and the admin's role form."""

from __future__ import annotations

import pytest

from nirvana.domain.moderation.entities import Role
from tests.support.http import as_user, bearer, sign_up
from tests.support.moderation import publish, signed_up_with_role
from tests.support.servers import TEST_ORIGIN

ORIGIN = {"Origin": TEST_ORIGIN}


@pytest.fixture
def database_url(server_urls) -> str:
    return server_urls[0]


async def test_a_report_sent_from_the_blog_page_is_handled_from_the_queue(client,
                                                                         database_url):
    author, reader = await sign_up(client), await sign_up(client)
    moderator = await signed_up_with_role(client, database_url, Role.MODERATOR)
    blog = await publish(client, author, title="Buy cheap pills")

    as_user(client, reader)
    page = await client.get(f"/blogs/{blog['id']}", follow_redirects=True)
    assert f'href="/report?kind=blog&amp;id={blog["id"]}"' in page.text
    form = await client.get(f"/report?kind=blog&id={blog['id']}")
    assert form.status_code == 200 and "Report this blog" in form.text
    r = await client.post("/report", headers=ORIGIN,
                          data={"kind": "blog", "id": str(blog["id"]), "reason": "spam"})
    assert r.status_code == 303
    assert "done=reported" in r.headers["location"]
    r = await client.post("/report", headers=ORIGIN,
                          data={"kind": "blog", "id": str(blog["id"]), "reason": " "})
    assert r.status_code == 422 and "reason" in r.text

    as_user(client, moderator)
    queue = await client.get("/moderation")
    assert queue.status_code == 200
    assert "Buy cheap pills" in queue.text and "spam" in queue.text
    assert 'href="/moderation"' in (await client.get("/")).text  # the header's link
    case_id = (await client.get("/api/v1/moderation/cases", headers=bearer(moderator))
               ).json()["cases"][0]["id"]
    r = await client.post("/moderation/actions", headers=ORIGIN, data={
        "action": "remove_blog", "case_id": str(case_id), "kind": "blog",
        "id": str(blog["id"]), "reason": "spam"})
    assert r.status_code == 303, r.text
    assert "No open cases" in (await client.get("/moderation")).text

    as_user(client, reader)
    told = await client.get("/notifications")
    assert "Your report was handled: a moderator removed the blog" in told.text


async def test_who_sees_the_queue_and_the_audit_log(client, database_url):
    user = await sign_up(client)
    moderator = await signed_up_with_role(client, database_url, Role.MODERATOR)
    admin = await signed_up_with_role(client, database_url, Role.ADMIN)
    as_user(client, user)
    assert (await client.get("/moderation")).status_code == 403
    assert 'href="/moderation"' not in (await client.get("/")).text
    as_user(client, moderator)
    assert (await client.get("/moderation/audit")).status_code == 403
    as_user(client, admin)
    page = await client.get("/moderation/audit")
    assert page.status_code == 200 and "command line" in page.text
    profile = await client.get(f"/people/{user['user']['id']}")
    assert 'action="/people/' in profile.text  # the role form
    r = await client.post(f"/people/{user['user']['id']}/role", headers=ORIGIN,
                          data={"role": "moderator", "reason": "trusted"})
    assert r.status_code == 303
    assert "trusted" in (await client.get("/moderation/audit")).text
    as_user(client, None)
    r = await client.get("/moderation")
    assert r.status_code in (303, 401)


async def test_the_author_of_a_hidden_blog_is_told_on_its_page(client, database_url):
    author, reader = await sign_up(client), await sign_up(client)
    moderator = await signed_up_with_role(client, database_url, Role.MODERATOR)
    blog = await publish(client, author, title="Borderline")
    r = await client.post("/api/v1/moderation/actions", headers=bearer(moderator), json={
        "action": "hide_blog", "target": {"kind": "blog", "id": blog["id"]},
        "reason": "borderline"})
    assert r.status_code == 201
    as_user(client, author)
    page = await client.get(f"/blogs/{blog['id']}", follow_redirects=True)
    assert "A moderator hid this blog: only you can see it." in page.text
    as_user(client, reader)
    page = await client.get(f"/blogs/{blog['id']}", follow_redirects=True)
    assert page.status_code == 404

