"""Reports, the moderators' queue and actions, roles and the audit log, over the real API
and PostgreSQL (docs/moderation.md)."""

from __future__ import annotations

import asyncpg
import pytest

from nirvana.domain.moderation.entities import Role
from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.moderation import act, publish, signed_up_with_role
from tests.support.people import befriend, block


@pytest.fixture
def database_url(server_urls) -> str:
    return server_urls[0]


async def notifications_of(client, session) -> list[dict]:
    r = await client.get("/api/v1/notifications", headers=bearer(session))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_reports_of_one_blog_gather_into_one_case_and_the_reporters_hear_of_its_removal(
        client, database_url):
    author = await sign_up(client)
    ann, bob = await sign_up(client), await sign_up(client)
    moderator = await signed_up_with_role(client, database_url, Role.MODERATOR)
    blog = await publish(client, author)
    target = {"kind": "blog", "id": blog["id"]}
    cases = set()
    for reporter, reason in ((ann, "spam"), (bob, "spam links"), (ann, "again")):
        r = await client.post("/api/v1/reports", headers=bearer(reporter),
                              json={"target": target, "reason": reason})
        assert r.status_code == 201, r.text
        cases.add(r.json()["case_id"])
    assert len(cases) == 1

    r = await client.get("/api/v1/moderation/cases", headers=bearer(moderator))
    assert r.status_code == 200, r.text
    [case] = r.json()["cases"]
    assert case["count"] == 2  # ann's second report is the same report
    assert {x["reporter_id"] for x in case["reports"]} == {ann["user"]["id"], bob["user"]["id"]}
    assert case["target"]["key"] == f"blog:{blog['id']}"
    assert case["preview"] == "A blog\n\nwords"  # what the moderator reviews

    r = await act(client, moderator, "remove_blog", target, "spam")
    assert r.status_code == 201, r.text
    assert r.json()["case_id"] == case["id"]
    assert (await client.get(f"/api/v1/blog/{blog['id']}")).status_code == 404
    for reporter in (ann, bob):
        [told] = await notifications_of(client, reporter)
        assert told["kind"] == "report_handled"
        assert "removed the blog" in told["text"]
    r = await client.get("/api/v1/moderation/cases?status=actioned", headers=bearer(moderator))
    assert [c["id"] for c in r.json()["cases"]] == [case["id"]]
    # A new report of the same user opens a new case: the old one is closed.
    r = await client.post("/api/v1/reports", headers=bearer(ann),
                          json={"target": {"kind": "user", "id": author["user"]["id"]},
                                "reason": "posts spam"})
    assert r.status_code == 201


async def test_nobody_reports_what_they_cannot_see(client, services):
    author, friend, stranger = (await sign_up(client), await sign_up(client),
                                await sign_up(client))
    await befriend(services, author["user"]["id"], friend["user"]["id"])
    private = await publish(client, author, audience="friends")
    reason = {"reason": "bad"}
    r = await client.post("/api/v1/reports", headers=bearer(stranger),
                          json={"target": {"kind": "blog", "id": private["id"]}, **reason})
    assert r.status_code == 404 and r.json()["error"]["code"] == "blog_not_found"
    r = await client.post("/api/v1/reports", headers=bearer(friend),
                          json={"target": {"kind": "blog", "id": private["id"]}, **reason})
    assert r.status_code == 201

    # A chat message: only its conversation's members can see it.
    conversation = await services.chat.open_direct(author["user"]["id"], friend["user"]["id"])
    message, _ = await services.chat.send_message(author["user"]["id"], conversation.id,
                                                  client_id="m1", text="hello")
    target = {"kind": "message", "conversation_id": conversation.id, "seq": message.seq}
    r = await client.post("/api/v1/reports", headers=bearer(stranger),
                          json={"target": target, **reason})
    assert r.status_code in (403, 404), r.text
    r = await client.post("/api/v1/reports", headers=bearer(friend),
                          json={"target": target, **reason})
    assert r.status_code == 201, r.text

    # A user who blocked you is not there for you.
    await block(services, author["user"]["id"], stranger["user"]["id"])
    r = await client.post("/api/v1/reports", headers=bearer(stranger),
                          json={"target": {"kind": "user", "id": author["user"]["id"]},
                                **reason})
    assert r.status_code == 404
    # Nor is a reason optional, nor yourself a target.
    r = await client.post("/api/v1/reports", headers=bearer(friend),
                          json={"target": {"kind": "user", "id": author["user"]["id"]},
                                "reason": "   "})
    assert r.status_code == 422
    r = await client.post("/api/v1/reports", headers=bearer(friend),
                          json={"target": {"kind": "user", "id": friend["user"]["id"]},
                                **reason})
    assert r.status_code == 422 and r.json()["error"]["code"] == "report_self"
    r = await client.post("/api/v1/reports", headers=bearer(friend),
                          json={"target": {"kind": "comment", "id": 1}, **reason})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "target.blog_id"


async def test_a_hidden_blog_and_comment_are_gone_for_readers_until_shown_again(
        client, database_url):
    author, reader = await sign_up(client), await sign_up(client)
    moderator = await signed_up_with_role(client, database_url, Role.MODERATOR)
    blog = await publish(client, author, title="Hide me")
    r = await client.post(f"/api/v1/blog/{blog['id']}/comments", headers=bearer(reader),
                          json={"body": "rude words"})
    comment = r.json()
    target = {"kind": "blog", "id": blog["id"]}
    assert (await act(client, moderator, "hide_blog", target)).status_code == 201
    assert (await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(reader))
            ).status_code == 404
    listed = (await client.get("/api/v1/blog/bulk")).json()["blogs"]
    assert blog["id"] not in [b["id"] for b in listed]
    # Its author still sees it.
    assert (await client.get(f"/api/v1/blog/{blog['id']}", headers=bearer(author))
            ).status_code == 200
    assert (await act(client, moderator, "show_blog", target)).status_code == 201
    assert (await client.get(f"/api/v1/blog/{blog['id']}")).status_code == 200

    comment_target = {"kind": "comment", "blog_id": blog["id"], "id": comment["id"]}
    assert (await act(client, moderator, "hide_comment", comment_target)).status_code == 201
    r = await client.get(f"/api/v1/blog/{blog['id']}/comments")
    assert comment["id"] not in [c["id"] for c in r.json()["comments"]]
    assert (await act(client, moderator, "remove_comment", comment_target)).status_code == 201
    r = await act(client, moderator, "show_comment", comment_target)
    assert r.status_code == 404 and r.json()["error"]["code"] == "comment_not_found"


async def test_a_moderator_removes_a_chat_message_as_a_tombstone_for_every_member(
        client, services, database_url):
    a, b = await sign_up(client), await sign_up(client)
    await befriend(services, a["user"]["id"], b["user"]["id"])
    moderator = await signed_up_with_role(client, database_url, Role.MODERATOR)
    conversation = await services.chat.open_direct(a["user"]["id"], b["user"]["id"])
    message, _ = await services.chat.send_message(a["user"]["id"], conversation.id,
                                                  client_id="m1", text="abuse")
    target = {"kind": "message", "conversation_id": conversation.id, "seq": message.seq}
    r = await client.post("/api/v1/reports", headers=bearer(b),
                          json={"target": target, "reason": "abusive"})
    assert r.status_code == 201
    # Not a member, the moderator still reviews what was reported.
    r = await client.get("/api/v1/moderation/cases", headers=bearer(moderator))
    assert r.json()["cases"][0]["preview"] == "abuse"
    r = await act(client, moderator, "remove_message", target)
    assert r.status_code == 201, r.text
    for member in (a, b):
        r = await client.get(f"/api/v1/conversations/{conversation.id}/messages",
                             headers=bearer(member))
        [shown] = r.json()["messages"]
        assert shown["deleted"] is True and shown["text"] == ""
    r = await act(client, moderator, "remove_message", {**target, "seq": 99})
    assert r.status_code == 404


async def test_a_suspended_account_is_refused_at_once_and_told_until_when(client,
                                                                          database_url):
    user = await sign_up(client)
    moderator = await signed_up_with_role(client, database_url, Role.MODERATOR)
    target = {"kind": "user", "id": user["user"]["id"]}
    until = "2099-01-02T03:04:05+00:00"
    r = await act(client, moderator, "suspend", target, "harassment", until=until)
    assert r.status_code == 201, r.text
    assert r.json()["detail"].startswith("until 2099-01-02")
    r = await client.get("/api/v1/user/me", headers=bearer(user))
    assert r.status_code == 401
    r = await client.post("/api/v1/user/refresh", json={"refresh_token": user["refresh_token"]})
    assert r.status_code == 401
    r = await client.post("/api/v1/user/signin",
                          json={"email": user["user"]["email"], "password": PASSWORD})
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "account_suspended"
    assert error["details"]["until"].startswith("2099-01-02T03:04:05")
    # A wrong password says nothing about the suspension.
    r = await client.post("/api/v1/user/signin",
                          json={"email": user["user"]["email"], "password": "wrong password"})
    assert r.status_code == 401

    assert (await act(client, moderator, "restore", target)).status_code == 201
    r = await client.post("/api/v1/user/signin",
                          json={"email": user["user"]["email"], "password": PASSWORD})
    assert r.status_code == 200
    r = await act(client, moderator, "restore", target)
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_suspended"
    # For good: no end date.
    await act(client, moderator, "suspend", target, "again")
    r = await client.post("/api/v1/user/signin",
                          json={"email": user["user"]["email"], "password": PASSWORD})
    assert r.json()["error"]["details"] == {"until": None}
    r = await act(client, moderator, "suspend", target, "in the past",
                  until="2001-01-01T00:00:00Z")
    assert r.status_code == 422


async def test_moderators_cannot_suspend_moderators_or_admins_and_admins_name_moderators(
        client, database_url):
    admin = await signed_up_with_role(client, database_url, Role.ADMIN)
    mod = await signed_up_with_role(client, database_url, Role.MODERATOR)
    other_mod = await signed_up_with_role(client, database_url, Role.MODERATOR)
    user = await sign_up(client)
    r = await act(client, mod, "suspend", {"kind": "user", "id": other_mod["user"]["id"]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_admin"
    r = await act(client, mod, "suspend", {"kind": "user", "id": admin["user"]["id"]})
    assert r.status_code == 409
    r = await act(client, mod, "suspend", {"kind": "user", "id": mod["user"]["id"]})
    assert r.status_code == 409

    path = f"/api/v1/admin/users/{user['user']['id']}/role"
    r = await client.put(path, headers=bearer(mod), json={"role": "moderator", "reason": "x"})
    assert r.status_code == 403
    r = await client.put(path, headers=bearer(admin),
                         json={"role": "moderator", "reason": "helps out"})
    assert r.status_code == 200, r.text
    assert r.json()["detail"] == "moderator"
    assert (await client.get("/api/v1/user/me", headers=bearer(user))).json()["role"] == \
        "moderator"
    assert (await client.get("/api/v1/moderation/cases", headers=bearer(user))
            ).status_code == 200
    r = await client.put(path, headers=bearer(admin), json={"role": "user", "reason": "done"})
    assert r.status_code == 200
    assert (await client.get("/api/v1/moderation/cases", headers=bearer(user))
            ).status_code == 403
    r = await client.put(f"/api/v1/admin/users/{admin['user']['id']}/role",
                         headers=bearer(admin), json={"role": "user", "reason": "x"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "own_role"
    r = await client.put("/api/v1/admin/users/999999/role", headers=bearer(admin),
                         json={"role": "user", "reason": "x"})
    assert r.status_code == 404


async def test_the_audit_log_records_every_action_for_admins_and_nobody_can_change_it(
        client, services, database_url):
    admin = await signed_up_with_role(client, database_url, Role.ADMIN)
    mod = await signed_up_with_role(client, database_url, Role.MODERATOR)
    author, reporter = await sign_up(client), await sign_up(client)
    blog = await publish(client, author)
    r = await client.post("/api/v1/reports", headers=bearer(reporter),
                          json={"target": {"kind": "blog", "id": blog["id"]},
                                "reason": "not spam really"})
    case_id = r.json()["case_id"]
    r = await act(client, mod, "dismiss", None, "fine as it is", case_id=case_id)
    assert r.status_code == 201, r.text
    [told] = await notifications_of(client, reporter)
    assert "took no action" in told["text"]
    r = await act(client, mod, "dismiss", None, "twice", case_id=case_id)
    assert r.status_code == 409
    await act(client, mod, "hide_blog", {"kind": "blog", "id": blog["id"]}, "on reflection")

    assert (await client.get("/api/v1/admin/audit", headers=bearer(mod))).status_code == 403
    r = await client.get("/api/v1/admin/audit", headers=bearer(admin))
    assert r.status_code == 200
    entries = r.json()["entries"]
    assert [(e["action"], e["actor_id"], e["reason"]) for e in entries[:2]] == [
        ("hide_blog", mod["user"]["id"], "on reflection"),
        ("dismiss", mod["user"]["id"], "fine as it is")]
    # The two roles given from the command line are there too, by actor 0.
    assert [e["actor_id"] for e in entries if e["action"] == "set_role"] == [0, 0]
    r = await client.get("/api/v1/admin/audit?limit=1", headers=bearer(admin))
    older = await client.get(f"/api/v1/admin/audit?limit=1&before={r.json()['next_before']}",
                             headers=bearer(admin))
    assert older.json()["entries"][0]["id"] == entries[1]["id"]

    # Append-only in PostgreSQL itself, whoever connects.
    for statement in ("UPDATE moderation_audit SET reason = 'edited'",
                      "DELETE FROM moderation_audit"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await services.pool.execute(statement)
    assert await services.pool.fetchval(
        "SELECT count(*) FROM moderation_audit WHERE reason = 'edited'") == 0
