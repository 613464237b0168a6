"""`python -m nirvana.admin promote EMAIL`: the first admin, made from the command line
against the database the server uses, counts at once (README, "The first admin")."""

from __future__ import annotations

import asyncio
import os
import sys

from tests.support.http import bearer, sign_up


async def run_admin(database_url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "nirvana.admin", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    return proc.returncode, out.decode(), err.decode()


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
