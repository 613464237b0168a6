"""`python -m nirvana.admin promote EMAIL`: the first admin, made from the command line
against the database the server uses, counts at once (README, "The first admin")."""

from __future__ import annotations

import os

from nirvana.storage.datadir_lock import SERVER, DataDirLock
from tests.support import admin_cli
from tests.support.http import bearer, sign_up


async def run_admin(database_url: str, *args: str) -> tuple[int, str, str]:
    return await admin_cli.run_admin({**os.environ, "DATABASE_URL": database_url}, *args)


async def test_promote_makes_the_first_admin_who_then_names_a_moderator(client, server_urls):
    first, helper = await sign_up(client), await sign_up(client)
    assert (await client.get("/api/v1/admin/audit", headers=bearer(first))).status_code == 403
    code, out, err = await run_admin(server_urls[0], "promote",
                                     first["user"]["email"].upper())
    assert code == 0, err
    assert "is now admin" in out
    r = await client.get("/api/v1/admin/audit", headers=bearer(first))
    assert r.status_code == 200  # no restart, no new sign-in
    [entry] = r.json()["entries"]
    assert (entry["actor_id"], entry["action"], entry["detail"]) == (0, "set_role", "admin")
    r = await client.put(f"/api/v1/admin/users/{helper['user']['id']}/role",
                         headers=bearer(first), json={"role": "moderator", "reason": "helps"})
    assert r.status_code == 200, r.text


async def test_an_unknown_email_is_an_error_that_changes_nothing(client, server_urls):
    code, out, err = await run_admin(server_urls[0], "promote", "nobody@example.com")
    assert code == 1 and "no account has the email nobody@example.com" in err
    code, out, err = await run_admin(server_urls[0], "role", "x@example.com", "king")
    assert code == 2 and "invalid choice" in err


async def test_user_ids_starts_no_chat_store_under_a_nirvana_that_holds_the_data_dir(
        server_urls, tmp_path):
    """run.py holds DATA_DIR and its chat store is not up (starting, or stopping): the tool
    must not start one there, whose orphan check would stop run.py's or run.py's its."""
    env = {k: v for k, v in os.environ.items() if k not in ("MONGODB_URL", "MONGODB_DB")}
    env.update(DATABASE_URL=server_urls[0], DATA_DIR=str(tmp_path))
    with DataDirLock(tmp_path, holder=SERVER):
        code, out, err = await admin_cli.run_admin(env, "user-ids")
    assert code == 1, (out, err)
    assert "is in use by Nirvana" in err and "its chat store is not up" in err, err
    assert not (tmp_path / "mongo").exists()
