"""A sign-in with the old password racing a password change, on the real PostgreSQL: the
change ends every session before it, so the sign-in that checked the old password gets
none after it, and never writes the old password back."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from nirvana.domain.accounts.sessions import hash_token
from nirvana.domain.errors import AuthenticationError, PermissionDeniedError
from nirvana.storage.postgres.accounts import PgRefreshTokenStore, PgUserRepository
from nirvana.storage.postgres.sessions import PgSessionStore
from tests.support.held_checks import HeldAfterCheck, accounts_over
from tests.support.http import PASSWORD, bearer, sign_up
from tests.support.pg_races import WAIT, behind_uncommitted, waiting_on_locks
from tests.support.two_factor import code_of, turn_on

pytestmark = pytest.mark.anyio
NEW_PASSWORD = "a new password"


async def changed(client, session: dict) -> dict:
    r = await client.post("/api/v1/user/password", headers=bearer(session), json={
        "current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


async def signs_in(client, email: str, password: str) -> int:
    r = await client.post("/api/v1/user/signin", json={"email": email, "password": password})
    client.cookies.clear()
    return r.status_code


async def sign_in_held(pool, email: str, rehash: bool) -> tuple[HeldAfterCheck, asyncio.Task]:
    """A sign-in on another instance, held once its password is checked."""
    held = HeldAfterCheck(rehash)
    signing_in = asyncio.create_task(
        accounts_over(pool, held).sign_in(email, PASSWORD, "198.51.100.9"))
    await asyncio.wait_for(held.checked.wait(), WAIT)
    return held, signing_in


@pytest.mark.parametrize("rehash", [False, True], ids=["current-hash", "outdated-hash"])
async def test_a_sign_in_held_after_its_check_while_the_password_changes_gets_no_session(
        client, stores, rehash):
    pool, _ = stores
    owner = await sign_up(client)
    email = owner["user"]["email"]
    held, signing_in = await sign_in_held(pool, email, rehash)
    survivor = await changed(client, owner)
    held.release.set()
    with pytest.raises(AuthenticationError) as refused:
        await asyncio.wait_for(signing_in, WAIT)
    assert refused.value.code == "invalid_credentials"  # as a wrong password is answered
    listed = (await client.get("/api/v1/user/sessions", headers=bearer(survivor))).json()
    assert [s["current"] for s in listed["sessions"]] == [True]
    # The new password stands: the sign-in wrote no hash of the old one over it.
    assert await signs_in(client, email, NEW_PASSWORD) == 200
    assert await signs_in(client, email, PASSWORD) == 401


async def test_a_two_factor_challenge_taken_before_a_password_change_is_refused_after_it(
        client):
    owner = await sign_up(client)
    secret, _ = await turn_on(client, owner)
    r = await client.post("/api/v1/user/signin", json={
        "email": owner["user"]["email"], "password": PASSWORD})
    assert r.status_code == 200, r.text
    challenge = r.json()["challenge"]
    survivor = await changed(client, owner)
    code = code_of(secret, steps_ahead=1)
    r = await client.post("/api/v1/user/signin/two-factor", json={
        "challenge": challenge, "code": code})
    client.cookies.clear()
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "invalid_challenge"
    listed = (await client.get("/api/v1/user/sessions", headers=bearer(survivor))).json()
    assert len(listed["sessions"]) == 1
    # Refused before its code was spent: the same code completes a sign-in with the new one.
    r = await client.post("/api/v1/user/signin", json={
        "email": owner["user"]["email"], "password": NEW_PASSWORD})
    r = await client.post("/api/v1/user/signin/two-factor", json={
        "challenge": r.json()["challenge"], "code": code})
    client.cookies.clear()
    assert r.status_code == 200, r.text


async def _user_and_hash(client, pool) -> tuple[int, str]:
    owner = await sign_up(client)
    uid = owner["user"]["id"]
    return uid, await pool.fetchval(
        "SELECT password_hash FROM credentials WHERE user_id = $1", uid)


async def test_a_sign_in_after_an_uncommitted_password_change_stores_no_session(
        client, stores):
    pool, _ = stores
    uid, old_hash = await _user_and_hash(client, pool)
    now = datetime.now(timezone.utc)
    change = [("UPDATE credentials SET password_hash = 'changed' WHERE user_id = $1", uid)]
    started = await behind_uncommitted(pool, change, PgSessionStore(pool).start(
        str(uuid.uuid4()), uid, "device", "ip", now, hash_token("first"),
        now + timedelta(days=1), old_hash))
    assert started is False
    assert await pool.fetchval("SELECT count(*) FROM refresh_tokens WHERE user_id = $1 "
                               "AND revoked_at IS NULL", uid) == 1  # the sign-up's only


async def test_a_password_change_waits_for_a_sign_in_under_way_and_its_revocation_ends_it(
        client, stores):
    pool, _ = stores
    uid, old_hash = await _user_and_hash(client, pool)
    family, first = str(uuid.uuid4()), hash_token("first")
    later = datetime.now(timezone.utc) + timedelta(days=1)
    users, refresh = PgUserRepository(pool), PgRefreshTokenStore(pool)

    async def change() -> set[str]:  # as Passwords.change_password does, in its order
        await users.set_password_hash(uid, "changed")
        return await refresh.revoke_user(uid, datetime.now(timezone.utc))

    async with pool.acquire() as blocker:
        # An uncommitted row with the sign-in's token hash holds the sign-in at its last
        # INSERT, inside its transaction: past its check of the hash, not yet committed.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(
            "INSERT INTO refresh_tokens (token_hash, family_id, user_id, expires_at) "
            "VALUES ($1, $2, $3, $4)", first, uuid.uuid4(), uid, later)
        starting = asyncio.create_task(PgSessionStore(pool).start(
            family, uid, "device", "ip", datetime.now(timezone.utc), first, later, old_hash))
        await waiting_on_locks(pool, starting, blocker.get_server_pid())
        changing = asyncio.create_task(change())
        await waiting_on_locks(pool, changing, blocker.get_server_pid(), count=2)
        await transaction.rollback()
    assert await asyncio.wait_for(starting, WAIT) is True
    assert family in await asyncio.wait_for(changing, WAIT)


async def test_an_account_deleted_while_a_sign_in_starts_its_session_waits_for_it(
        client, stores):
    """No deadlock: the sign-in locks the user's row before the credentials', in the order
    the deletion's cascade takes them, so the deletion waits, then deletes its session."""
    pool, _ = stores
    uid, password_hash = await _user_and_hash(client, pool)
    other, _ = await _user_and_hash(client, pool)
    family = str(uuid.uuid4())
    later = datetime.now(timezone.utc) + timedelta(days=1)
    async with pool.acquire() as blocker:
        # An uncommitted session of ANOTHER user with the sign-in's id holds the sign-in at
        # its INSERT, past its locks (one of the same user would lock the user's row itself).
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(
            "INSERT INTO sessions (id, user_id, device, ip, created_at, last_used_at) "
            "VALUES ($1, $2, 'd', 'i', now(), now())", uuid.UUID(family), other)
        starting = asyncio.create_task(PgSessionStore(pool).start(
            family, uid, "device", "ip", datetime.now(timezone.utc), hash_token("first"),
            later, password_hash))
        await waiting_on_locks(pool, starting, blocker.get_server_pid())
        deleting = asyncio.create_task(PgUserRepository(pool).delete(
            uid, datetime.now(timezone.utc), password_hash))
        await waiting_on_locks(pool, deleting, blocker.get_server_pid(), count=2)
        await transaction.rollback()
    assert await asyncio.wait_for(starting, WAIT) is True
    await asyncio.wait_for(deleting, WAIT)  # not DeadlockDetectedError
    assert await pool.fetchval("SELECT count(*) FROM sessions WHERE user_id = $1", uid) == 0
    assert await PgSessionStore(pool).start(
        str(uuid.uuid4()), uid, "device", "ip", datetime.now(timezone.utc),
        hash_token("second"), later, password_hash) is False  # no FK violation either


async def test_of_two_password_changes_from_the_same_password_the_second_is_refused(
        client, stores):
    pool, _ = stores
    owner = await sign_up(client)
    email = owner["user"]["email"]
    held = HeldAfterCheck(rehash=False)
    # The other change's current password is checked, then held; this one lands meanwhile.
    other_change = asyncio.create_task(accounts_over(pool, held).change_password(
        owner["user"]["id"], PASSWORD, "the other new password"))
    await asyncio.wait_for(held.checked.wait(), WAIT)
    survivor = await changed(client, owner)
    held.release.set()
    with pytest.raises(PermissionDeniedError) as refused:
        await asyncio.wait_for(other_change, WAIT)
    assert refused.value.code == "wrong_password"
    listed = (await client.get("/api/v1/user/sessions", headers=bearer(survivor))).json()
    assert [s["current"] for s in listed["sessions"]] == [True]
    assert await signs_in(client, email, NEW_PASSWORD) == 200
    assert await signs_in(client, email, "the other new password") == 401


@pytest.mark.parametrize("rehash", [False, True], ids=["at-its-start", "at-its-rehash"])
async def test_a_sign_in_outrun_by_another_ones_rehash_still_signs_in(client, stores, rehash):
    """After the argon2 parameters were raised, two sign-ins of one user: the second to
    write finds the hash it checked replaced, by the same password's, and goes on."""
    pool, _ = stores
    owner = await sign_up(client)
    email = owner["user"]["email"]
    held, signing_in = await sign_in_held(pool, email, rehash)
    other = HeldAfterCheck(rehash=True)
    other.release.set()
    stored = await pool.fetchval("SELECT password_hash FROM credentials WHERE user_id = $1",
                                 owner["user"]["id"])
    await accounts_over(pool, other).sign_in(email, PASSWORD, "198.51.100.10")
    assert await pool.fetchval("SELECT password_hash FROM credentials WHERE user_id = $1",
                               owner["user"]["id"]) != stored  # rehashed
    held.release.set()
    assert (await asyncio.wait_for(signing_in, WAIT)).user.id == owner["user"]["id"]
