"""Actions confirmed by the password racing a reset, on the real PostgreSQL: one whose
password was checked before the reset committed, and writes after it, is refused as a wrong
password is (403 wrong_password) and changes nothing. An email changed so, then a reset
mailed to the new address, would take the account over."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from nirvana.domain.errors import AuthenticationError, PermissionDeniedError
from nirvana.security import Argon2Hasher
from nirvana.storage.postgres.accounts import PgUserRepository
from tests.support.held_checks import (
    HeldAfterCheck,
    accounts_over,
    reset,
    two_factor_over,
)
from tests.support.http import PASSWORD, sign_up
from tests.support.pg_races import WAIT, behind_uncommitted
from tests.support.two_factor import code_of, turn_on

pytestmark = pytest.mark.anyio
NEW_PASSWORD = "the owner's new password"


async def refused_after_a_reset(pool, user_id: int,
                                action: Callable[[HeldAfterCheck], Awaitable[object]]) -> None:
    """`action` (on another instance) held once its password is checked, while the owner
    resets the password; then released: it must be refused."""
    held = HeldAfterCheck()
    acting = asyncio.create_task(action(held))
    await asyncio.wait_for(held.checked.wait(), WAIT)
    await reset(pool, user_id, NEW_PASSWORD)
    held.release.set()
    with pytest.raises(PermissionDeniedError) as refused:
        await asyncio.wait_for(acting, WAIT)
    assert refused.value.code == "wrong_password"


async def test_an_email_change_confirmed_before_a_reset_is_refused_after_it(client, stores):
    pool, _ = stores
    owner = await sign_up(client)
    uid, email = owner["user"]["id"], owner["user"]["email"]
    await refused_after_a_reset(pool, uid, lambda held: accounts_over(pool, held).change_email(
        uid, PASSWORD, "attacker@example.com"))
    assert await pool.fetchval("SELECT email::text FROM users WHERE id = $1", uid) == email


async def done_after_a_rehash(pool, user_id: int,
                              action: Callable[[HeldAfterCheck], Awaitable[object]]) -> object:
    """`action` (on another instance) held once its password is checked, while a sign-in
    elsewhere replaces the hash with a new one of the same password (as after the argon2
    parameters were raised); then released: it must go through, the password being right."""
    held = HeldAfterCheck()
    acting = asyncio.create_task(action(held))
    await asyncio.wait_for(held.checked.wait(), WAIT)
    checked = await pool.fetchval(
        "SELECT password_hash FROM credentials WHERE user_id = $1", user_id)
    assert await PgUserRepository(pool).replace_password_hash(
        user_id, checked, await Argon2Hasher().hash(PASSWORD))
    held.release.set()
    return await asyncio.wait_for(acting, WAIT)


async def test_an_email_change_confirmed_while_a_sign_in_rehashes_the_password_is_done(
        client, stores):
    pool, _ = stores
    uid = (await sign_up(client))["user"]["id"]
    changed = await done_after_a_rehash(pool, uid, lambda held: accounts_over(pool, held)
                                        .change_email(uid, PASSWORD, "moved@example.com"))
    assert changed.email == "moved@example.com"
    assert await pool.fetchval("SELECT email::text FROM users WHERE id = $1",
                               uid) == "moved@example.com"


async def test_an_account_deletion_confirmed_while_a_sign_in_rehashes_the_password_is_done(
        client, stores):
    pool, _ = stores
    uid = (await sign_up(client))["user"]["id"]
    await done_after_a_rehash(pool, uid, lambda held: accounts_over(pool, held)
                              .delete_account(uid, PASSWORD))
    assert await pool.fetchval("SELECT count(*) FROM users WHERE id = $1", uid) == 0


async def test_a_password_change_confirmed_while_a_sign_in_rehashes_the_password_is_done(
        client, stores):
    pool, _ = stores
    uid = (await sign_up(client))["user"]["id"]
    await done_after_a_rehash(pool, uid, lambda held: accounts_over(pool, held)
                              .change_password(uid, PASSWORD, NEW_PASSWORD))
    stored = await pool.fetchval(
        "SELECT password_hash FROM credentials WHERE user_id = $1", uid)
    assert await Argon2Hasher().verify(stored, NEW_PASSWORD)


async def test_an_email_change_behind_an_uncommitted_reset_waits_and_is_refused(
        client, stores):
    pool, _ = stores
    owner = await sign_up(client)
    uid = owner["user"]["id"]
    checked = await pool.fetchval(
        "SELECT password_hash FROM credentials WHERE user_id = $1", uid)
    a_reset = [("UPDATE credentials SET password_hash = 'reset' WHERE user_id = $1", uid)]
    changed = await behind_uncommitted(pool, a_reset, PgUserRepository(pool).change_email(
        uid, "attacker@example.com", checked))
    assert changed is None


async def test_an_account_deletion_confirmed_before_a_reset_is_refused_after_it(
        client, stores):
    pool, _ = stores
    uid = (await sign_up(client))["user"]["id"]
    await refused_after_a_reset(pool, uid, lambda held: accounts_over(pool, held)
                                .delete_account(uid, PASSWORD))
    assert await pool.fetchval("SELECT count(*) FROM users WHERE id = $1", uid) == 1
    assert await pool.fetchval("SELECT count(*) FROM deleted_users WHERE id = $1", uid) == 0


async def test_two_factor_set_up_with_a_password_checked_before_a_reset_keeps_no_secret(
        client, stores):
    """Its secret would be known to whoever knew the old password, and the owner, shown
    the pending setup, might confirm it."""
    pool, _ = stores
    uid = (await sign_up(client))["user"]["id"]
    await refused_after_a_reset(pool, uid, lambda held: two_factor_over(pool, held).set_up(
        uid, PASSWORD))
    assert await pool.fetchval("SELECT count(*) FROM two_factor WHERE user_id = $1", uid) == 0


async def with_two_factor(client) -> tuple[int, str]:
    """A new user with two-factor sign-in on: the id and the app's secret."""
    owner = await sign_up(client)
    return owner["user"]["id"], (await turn_on(client, owner))[0]


async def test_two_factor_turned_off_with_a_password_checked_before_a_reset_stays_on(
        client, stores):
    pool, _ = stores
    uid, secret = await with_two_factor(client)
    await refused_after_a_reset(pool, uid, lambda held: two_factor_over(pool, held).disable(
        uid, PASSWORD, code_of(secret, steps_ahead=1)))
    assert await pool.fetchval(
        "SELECT enabled_at IS NOT NULL FROM two_factor WHERE user_id = $1", uid) is True


async def test_recovery_codes_renewed_with_a_password_checked_before_a_reset_stay_as_they_were(
        client, stores):
    pool, _ = stores
    uid, secret = await with_two_factor(client)
    codes = "SELECT array_agg(code_hash ORDER BY code_hash) FROM two_factor_recovery_codes " \
            "WHERE user_id = $1"
    before = await pool.fetchval(codes, uid)
    await refused_after_a_reset(pool, uid, lambda held: two_factor_over(pool, held)
                                .new_recovery_codes(uid, PASSWORD, code_of(secret, 1)))
    assert await pool.fetchval(codes, uid) == before


async def test_an_account_deletion_sent_twice_answers_the_second_that_it_is_gone(
        client, stores):
    """Both checked the password before either wrote: the second finds no account, which
    is not a wrong password (not counted as one)."""
    pool, _ = stores
    uid = (await sign_up(client))["user"]["id"]
    held = HeldAfterCheck()
    second = asyncio.create_task(accounts_over(pool, held).delete_account(uid, PASSWORD))
    await asyncio.wait_for(held.checked.wait(), WAIT)
    await accounts_over(pool, Argon2Hasher()).delete_account(uid, PASSWORD)
    held.release.set()
    with pytest.raises(AuthenticationError) as refused:
        await asyncio.wait_for(second, WAIT)
    assert refused.value.code == "unknown_user"
