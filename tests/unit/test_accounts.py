"""The accounts rules, on in-memory fakes of every port."""

from __future__ import annotations

import re

import pytest

from nirvana.domain.accounts.policy import AccountPolicy
from nirvana.domain.errors import (
    AuthenticationError,
    InvalidInputError,
    PermissionDeniedError,
    RateLimitedError,
)
from nirvana.domain.accounts.users import ProfileChanges
from nirvana.domain.ratelimit import Limit, SlidingWindowLimiter
from tests.support.clock import FakeClock
from tests.support.accounts_world import accounts_world

PW = "password one"


@pytest.fixture
def world():
    w = accounts_world(policy=AccountPolicy(base_url="http://example.test"))
    return w.accounts, w.clock, w.hasher, w.mailer


async def test_email_is_normalised_and_username_derived(world):
    accounts, *_ = world
    session = await accounts.sign_up("  Ann@Example.COM", None, "  Ann   Lee ", PW)
    assert session.user.email == "ann@example.com"
    assert session.user.name == "Ann Lee"
    assert re.fullmatch(r"ann_\d{4}", session.user.username)


@pytest.mark.parametrize("email", ["", "no-at-sign", "a@b", "a b@c.d", "x" * 250 + "@e.com"])
async def test_bad_emails_are_refused(world, email):
    accounts, *_ = world
    with pytest.raises(InvalidInputError) as info:
        await accounts.sign_up(email, None, "Ann", PW)
    assert info.value.details[0]["field"] == "email"


@pytest.mark.parametrize("username", ["ab", ".ann", "ann.", "a..b", "a b", "x" * 31, "ann!"])
async def test_bad_usernames_are_refused(world, username):
    accounts, *_ = world
    with pytest.raises(InvalidInputError):
        await accounts.sign_up("a@example.com", username, "Ann", PW)


async def test_password_bounds(world):
    accounts, *_ = world
    with pytest.raises(InvalidInputError):
        await accounts.sign_up("a@example.com", None, "Ann", "1234567")
    with pytest.raises(InvalidInputError):
        await accounts.sign_up("a@example.com", None, "Ann", "x" * 1025)
    await accounts.sign_up("a@example.com", None, "Ann", "x" * 1024)


async def test_unknown_email_runs_one_verification_like_a_wrong_password(world):
    accounts, _, hasher, _ = world
    await accounts.sign_up("a@example.com", None, "Ann", PW)
    before = hasher.verifications
    with pytest.raises(AuthenticationError) as unknown:
        await accounts.sign_in("ghost@example.com", PW, "1.1.1.1")
    with pytest.raises(AuthenticationError) as wrong:
        await accounts.sign_in("a@example.com", "wrong password", "1.1.1.1")
    assert hasher.verifications - before == 2
    assert (unknown.value.code, unknown.value.message) == (wrong.value.code, wrong.value.message)


async def test_sign_in_rehashes_when_parameters_changed(world):
    accounts, _, hasher, _ = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    hasher.version = "v2"
    await accounts.sign_in("a@example.com", PW, "1.1.1.1")
    assert accounts.users.hashes[session.user.id].startswith("v2$")


async def test_failures_lock_one_ip_out_but_not_the_owner_elsewhere(world):
    accounts, clock, _, _ = world
    await accounts.sign_up("a@example.com", None, "Ann", PW)
    for _ in range(10):
        with pytest.raises(AuthenticationError):
            await accounts.sign_in("a@example.com", "bad password", "6.6.6.6")
    with pytest.raises(RateLimitedError) as limited:
        await accounts.sign_in("a@example.com", PW, "6.6.6.6")
    assert limited.value.retry_after >= 1
    await accounts.sign_in("a@example.com", PW, "7.7.7.7")
    clock.advance(2 * 15 * 60)  # the window slides away
    await accounts.sign_in("a@example.com", PW, "6.6.6.6")


async def test_a_lock_holds_on_every_service_that_shares_the_limiters():
    """As two instances do when given limiters that share their counters: a lock earned
    on one is not reset by signing in through the other."""
    clock = FakeClock()
    shared: dict[Limit, SlidingWindowLimiter] = {}

    def limiter(limit: Limit) -> SlidingWindowLimiter:
        return shared.setdefault(limit, SlidingWindowLimiter(limit, clock))

    w = accounts_world(clock, limiter=limiter)
    first, second = w.accounts, w.restarted()
    await first.sign_up("a@example.com", None, "Ann", PW)
    for _ in range(10):
        with pytest.raises(AuthenticationError):
            await first.sign_in("a@example.com", "bad password", "6.6.6.6")
    with pytest.raises(RateLimitedError):
        await second.sign_in("a@example.com", PW, "6.6.6.6")


async def test_distributed_guessing_hits_the_per_account_ceiling(world):
    accounts, *_ = world
    await accounts.sign_up("a@example.com", None, "Ann", PW)
    for i in range(100):
        with pytest.raises(AuthenticationError):
            await accounts.sign_in("a@example.com", "bad password", f"10.0.{i // 250}.{i % 250}")
    with pytest.raises(RateLimitedError):
        await accounts.sign_in("a@example.com", "bad password", "10.9.9.9")


async def test_per_ip_limit_counts_every_attempt(world):
    accounts, *_ = world
    for i in range(30):
        with pytest.raises(AuthenticationError):
            await accounts.sign_in(f"u{i}@example.com", "bad password", "5.5.5.5")
    with pytest.raises(RateLimitedError):
        await accounts.sign_in("x@example.com", "bad password", "5.5.5.5")


async def test_refresh_rotation_race_and_reuse(world):
    accounts, clock, *_ = world
    first = await accounts.sign_up("a@example.com", None, "Ann", PW)
    second = await accounts.refresh(first.refresh_token)
    assert second.session_id == first.session_id
    with pytest.raises(AuthenticationError) as racing:
        await accounts.refresh(first.refresh_token)
    assert racing.value.code == "refresh_token_rotated"
    accounts.authenticate(second.access_token)  # the race did not end the session
    clock.advance(11)
    with pytest.raises(AuthenticationError) as reused:
        await accounts.refresh(first.refresh_token)
    assert reused.value.code == "refresh_token_reused"
    with pytest.raises(AuthenticationError):
        await accounts.refresh(second.refresh_token)
    with pytest.raises(AuthenticationError):
        accounts.authenticate(second.access_token)


async def test_expired_refresh_token_is_refused(world):
    accounts, clock, *_ = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    clock.advance(7 * 24 * 3600 + 1)
    with pytest.raises(AuthenticationError) as info:
        await accounts.refresh(session.refresh_token)
    assert info.value.code == "invalid_refresh_token"


async def test_revocations_survive_a_restart():
    w = accounts_world()
    accounts = w.accounts
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    await accounts.log_out(accounts.authenticate(session.access_token), None)
    restarted = w.restarted()
    await restarted.load_revocations()
    with pytest.raises(AuthenticationError):
        restarted.authenticate(session.access_token)


async def test_password_reset_is_single_use_and_newest_only(world):
    accounts, clock, _, mailer = world
    old = await accounts.sign_up("a@example.com", None, "Ann", PW)
    await accounts.request_password_reset("A@example.com", "1.1.1.1")
    await accounts.request_password_reset("a@example.com", "1.1.1.1")
    tokens = [re.search(r"token=(\S+)", body).group(1) for _, _, body in mailer.sent]
    assert len(tokens) == 2 and mailer.sent[0][0] == "a@example.com"
    with pytest.raises(InvalidInputError):
        await accounts.reset_password(tokens[0], "brand new pass")  # voided by the newer one
    clock.advance(1)
    await accounts.reset_password(tokens[1], "brand new pass")
    with pytest.raises(InvalidInputError):
        await accounts.reset_password(tokens[1], "another new pass")
    with pytest.raises(AuthenticationError):
        accounts.authenticate(old.access_token)
    with pytest.raises(AuthenticationError):
        await accounts.refresh(old.refresh_token)
    await accounts.sign_in("a@example.com", "brand new pass", "1.1.1.1")


async def test_reset_token_expires(world):
    accounts, clock, _, mailer = world
    await accounts.sign_up("a@example.com", None, "Ann", PW)
    await accounts.request_password_reset("a@example.com", "1.1.1.1")
    token = re.search(r"token=(\S+)", mailer.sent[0][2]).group(1)
    clock.advance(31 * 60)
    with pytest.raises(InvalidInputError):
        await accounts.reset_password(token, "brand new pass")


async def test_forgot_password_for_unknown_email_sends_nothing(world):
    accounts, _, _, mailer = world
    await accounts.request_password_reset("ghost@example.com", "1.1.1.1")
    await accounts.request_password_reset("not an email", "1.1.1.1")
    assert mailer.sent == []


async def test_forgot_password_limits(world):
    accounts, _, _, mailer = world
    await accounts.sign_up("a@example.com", None, "Ann", PW)
    for _ in range(5):
        accounts.check_forgot_rate("1.1.1.1")
        await accounts.request_password_reset("a@example.com", "1.1.1.1")
    assert len(mailer.sent) == 3  # per-account cap, silently
    for _ in range(5):
        accounts.check_forgot_rate("1.1.1.1")
    with pytest.raises(RateLimitedError):
        accounts.check_forgot_rate("1.1.1.1")


async def test_change_password_requires_the_current_one(world):
    accounts, *_ = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    with pytest.raises(PermissionDeniedError):
        await accounts.change_password(session.user.id, "not the password", "new password 1")
    fresh = await accounts.change_password(session.user.id, PW, "new password 1")
    assert fresh.session_id != session.session_id


async def test_empty_profile_update_is_refused(world):
    accounts, *_ = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    with pytest.raises(InvalidInputError):
        await accounts.update_profile(session.user.id, ProfileChanges())
    with pytest.raises(InvalidInputError):
        await accounts.update_profile(session.user.id, ProfileChanges(status="s" * 141))


async def test_purge_keeps_tokens_for_a_day_after_expiry(world):
    accounts, clock, *_ = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    await accounts.request_password_reset("a@example.com", "1.1.1.1")
    clock.advance(7 * 24 * 3600 + 60)
    assert await accounts.purge_expired() == 1  # the reset token expired long ago
    with pytest.raises(AuthenticationError):
        await accounts.refresh(session.refresh_token)
    clock.advance(24 * 3600)
    assert await accounts.purge_expired() == 2  # now the refresh token goes too, and its session


async def test_sign_up_is_limited_per_ip_before_any_hashing(world):
    accounts, _, hasher, _ = world
    for i in range(20):
        await accounts.sign_up(f"u{i}@example.com", None, "U", PW, ip="9.9.9.9")
    with pytest.raises(RateLimitedError):
        await accounts.sign_up("late@example.com", None, "U", PW, ip="9.9.9.9")
    await accounts.sign_up("other@example.com", None, "U", PW, ip="8.8.8.8")
