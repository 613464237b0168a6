"""Server-rendered answers to what a stranger's tour of the web client found, without a
browser: a deleted file opened by a browser, page log lines naming their user, /favicon.ico,
a scheduled blog's badge, the settings' sections, a notice after deleting a blog, a
comment's delete asking first, and the audit log's own scroll box."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta, timezone

import pytest

from nirvana.domain.moderation.entities import Action, Role, TargetKind
from nirvana.web.pages import notification_settings
from nirvana.web.pages.moderation import ACTION_WORDS, KIND_WORDS
from tests.support.http import as_user, bearer, sign_up
from tests.support.moderation import publish, signed_up_with_role
from tests.support.servers import TEST_ORIGIN

HTML = {"Accept": "text/html,application/xhtml+xml"}
ORIGIN = {"Origin": TEST_ORIGIN}


@pytest.fixture
def database_url(server_urls) -> str:
    return server_urls[0]


async def test_a_missing_file_is_a_page_for_a_browser_and_json_for_programs(client):
    r = await client.get("/media/GTgMywFbVMLIWnzNauNQ9Kc9.bin", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Nothing here" in r.text
    r = await client.get("/media/GTgMywFbVMLIWnzNauNQ9Kc9.bin")
    assert r.status_code == 404 and r.json()["error"]["code"] == "media_not_found"
    r = await client.get("/media/GTgMywFbVMLIWnzNauNQ9Kc9.bin", headers={"Accept": "image/*"})
    assert r.json()["error"]["code"] == "media_not_found"
    # Either form is an answer to its Accept: a cache keeping one must not serve the other.
    assert "Accept" in r.headers["vary"]
    r = await client.get("/media/GTgMywFbVMLIWnzNauNQ9Kc9.bin", headers=HTML)
    assert "Accept" in r.headers["vary"]


async def test_a_page_request_is_logged_with_its_signed_in_user(client, caplog):
    ann = await sign_up(client)
    caplog.set_level(logging.INFO, logger="nirvana.access")
    as_user(client, ann)
    assert (await client.get("/settings", headers=HTML)).status_code == 200
    [line] = [r for r in caplog.records if r.name == "nirvana.access" and r.path == "/settings"]
    assert line.user_id == ann["user"]["id"]


async def test_favicon_ico_leads_to_the_icon(client):
    r = await client.get("/favicon.ico")
    # The plain name, served by ETag: a kept 301 to a hashed name would outlive the icon.
    assert r.status_code == 301 and r.headers["location"] == "/static/favicon.svg"
    icon = await client.get(r.headers["location"])
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


async def test_own_pages_say_what_state_things_are_in(client):
    ann = await sign_up(client)
    at = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    r = await client.post("/api/v1/blog", headers=bearer(ann), json={
        "title": "Later", "body": "Soon.", "status": "scheduled", "published_at": at})
    assert r.status_code == 201, r.text
    blog = r.json()
    as_user(client, ann)
    page = (await client.get(f"/blogs/{blog['id']}", follow_redirects=True)).text
    assert '<span class="badge">Scheduled</span> for <time' in page

    # Settings: notifications have their own section, apart from deleting the account.
    settings = (await client.get("/settings")).text
    notifications = re.search(r'<section aria-labelledby="notifications-title">(.*?)</section>',
                              settings, re.S)
    assert notifications and "Delete your account" not in notifications.group(1)

    # Deleting a blog ends on the profile, which says it is done.
    r = await client.post(f"/blogs/{blog['id']}/delete", headers=ORIGIN)
    assert r.status_code == 303
    assert r.headers["location"] == f"/people/{ann['user']['id']}?done=deleted"
    assert "Your blog is deleted." in (await client.get(r.headers["location"])).text


async def test_deleting_a_comment_asks_first(client):
    ann, bob, cleo = await sign_up(client), await sign_up(client), await sign_up(client)
    blog = await publish(client, ann, title="Talk")
    r = await client.post(f"/api/v1/blog/{blog['id']}/comments", headers=bearer(bob),
                          json={"body": "A <b>bold</b> remark"})
    assert r.status_code == 201, r.text
    comment = r.json()
    as_user(client, bob)
    url = f"/blogs/{blog['id']}/comments/{comment['id']}/delete"
    page = (await client.get(f"/blogs/{blog['id']}", follow_redirects=True)).text
    assert f'<a href="{url}">Delete comment…</a>' in page
    asked = await client.get(url)
    assert asked.status_code == 200 and "Delete this comment?" in asked.text
    assert "A &lt;b&gt;bold&lt;/b&gt; remark" in asked.text
    assert f'<form method="post" action="{url}"' in asked.text
    # A reader who may not delete it is refused as the delete itself would refuse them.
    as_user(client, cleo)
    refused = await client.get(url, headers=HTML)
    assert refused.status_code == 403 and "Delete this comment?" not in refused.text
    as_user(client, bob)
    comments = await client.get(f"/api/v1/blog/{blog['id']}/comments")
    assert len(comments.json()["comments"]) == 1  # asking deleted nothing
    assert (await client.post(url, headers=ORIGIN)).status_code == 303
    comments = await client.get(f"/api/v1/blog/{blog['id']}/comments")
    assert comments.json()["comments"] == []


async def test_the_audit_log_scrolls_in_its_own_box(client, database_url):
    admin = await signed_up_with_role(client, database_url, Role.ADMIN)
    as_user(client, admin)
    page = (await client.get("/moderation/audit")).text
    assert re.search(r'<div class="table-scroll"[^>]*>\s*<table class="audit">', page)
    assert ".table-scroll { overflow-x: auto;" in (await client.get(
        re.search(r'href="(/static/css/site\.\w+\.css)"', page).group(1))).text


async def test_empty_feeds_link_to_where_to_go_next(client):
    page = (await client.get("/", headers=HTML)).text
    assert 'Be the first: <a href="/write">write one</a>.' in page
    ann = await sign_up(client)
    as_user(client, ann)
    page = (await client.get("/?following=1", headers=HTML)).text
    assert 'Find people to follow on <a href="/people">People</a>.' in page


def test_every_moderation_action_and_target_kind_has_words():
    assert set(ACTION_WORDS) == set(Action) and set(KIND_WORDS) == set(TargetKind)


async def test_muted_chats_are_listed_by_name_unless_that_person_blocked_you(client):
    ann, bob = await sign_up(client, "Ann Muter"), await sign_up(client, "Bob Named")
    cleo = await sign_up(client, "Cleo Blocker")
    for other in (bob, cleo):
        r = await client.post(f"/api/v1/friends/requests/{other['user']['id']}",
                              headers=bearer(ann))
        assert r.is_success, r.text
        r = await client.post(f"/api/v1/friends/requests/{ann['user']['id']}/accept",
                              headers=bearer(other))
        assert r.is_success, r.text
        r = await client.post(f"/api/messages/send/{other['user']['id']}", headers=bearer(ann),
                              json={"text": "hi"})
        assert r.status_code == 201, r.text
        muted = await client.put(f"/api/v1/conversations/{r.json()['conversation_id']}/mute",
                                 headers=bearer(ann))
        assert muted.is_success, muted.text
    r = await client.post(f"/api/v1/blocks/{ann['user']['id']}", headers=bearer(cleo))
    assert r.is_success, r.text
    as_user(client, ann)
    listed = (await client.get("/settings/notifications")).text
    assert f">{bob['user']['name']}</a>" in listed
    assert cleo["user"]["name"] not in listed and ">A direct chat</a>" in listed


async def _group_muted(client, owner) -> str:
    r = await client.post("/api/v1/conversations", headers=bearer(owner),
                          json={"kind": "group", "name": "Mine", "member_ids": []})
    assert r.status_code == 201, r.text
    muted = await client.put(f"/api/v1/conversations/{r.json()['id']}/mute",
                             headers=bearer(owner))
    assert muted.is_success, muted.text
    return r.json()["id"]


@pytest.mark.parametrize("mutes", [1, 5])
async def test_the_muted_list_reads_the_store_once_and_caches_nothing(
        client, services, monkeypatch, mutes):
    """However many are muted, one read of the chat store, and none of what it read is kept
    in the chat's cache (shared with every user's sends); past the cap, a count."""
    ann = await sign_up(client, "Ann Many")
    ids = [await _group_muted(client, ann) for _ in range(mutes)]
    cache = services.chat.cache
    for i in ids:  # the mutes' membership checks cached them
        cache.forget(i)
    store, reads = services.chat_store, []
    for name in ("get_conversation", "get_conversations"):
        real = getattr(store, name)

        async def counted(*args, _real=real, _name=name):
            reads.append(_name)
            return await _real(*args)
        monkeypatch.setattr(store, name, counted)
    monkeypatch.setattr(notification_settings, "MUTED_LISTED", 3)
    as_user(client, ann)
    page = (await client.get("/settings/notifications")).text
    assert reads == ["get_conversations"]
    assert all(cache.conversation(i) is None for i in ids)
    listed = page.count('action="/settings/notifications/unmute"')
    assert listed == min(mutes, 3) and page.count(">Mine</a>") == listed
    assert ("And 2 more, muted earlier" in page) == (mutes == 5)
