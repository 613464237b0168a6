"""Two-factor sign-in on fakes and a clock the test moves: the code only after the right
password, each time step once, recovery codes once, the challenge's expiry, the limits."""

from __future__ import annotations

import pyotp
import pytest

from nirvana.domain.accounts.sessions import Session
from nirvana.domain.accounts.two_factor import (
    SignInChallenge,
    TwoFactorSettings,
)
from nirvana.domain.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
    RateLimitedError,
)
from tests.support.accounts_world import accounts_world
from tests.support.clock import FakeClock

PW = "password one"
EMAIL = "a@example.com"


@pytest.fixture
def world():
    w = accounts_world(two_factor=True)
    return w.accounts, TwoFactorSettings(w.second_factor, w.accounts, w.clock), w.clock


def code(secret: str, clock: FakeClock, steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(clock.now().timestamp() + 30 * steps)


async def turned_on(accounts, settings, clock) -> tuple[int, str, list[str]]:
    user_id = (await accounts.sign_up(EMAIL, None, "Ann", PW)).user.id
    setup = await settings.set_up(user_id, PW)
    codes = await settings.confirm(user_id, code(setup.secret, clock))
    return user_id, setup.secret, codes


async def test_it_is_off_until_a_code_of_the_new_secret_confirms_it(world):
    accounts, settings, clock = world
    user_id = (await accounts.sign_up(EMAIL, None, "Ann", PW)).user.id
    setup = await settings.set_up(user_id, PW)
    assert isinstance(await accounts.sign_in(EMAIL, PW, "1.1.1.1"), Session)
    with pytest.raises(InvalidInputError):
        await settings.confirm(user_id, "12345x")
    codes = await settings.confirm(user_id, code(setup.secret, clock))
    assert len(set(codes)) == 10
    assert (await settings.status(user_id)).enabled
    with pytest.raises(ConflictError):
        await settings.set_up(user_id, PW)


async def test_sign_in_answers_a_challenge_and_the_code_makes_the_session(world):
    accounts, settings, clock = world
    user_id, secret, _ = await turned_on(accounts, settings, clock)
    with pytest.raises(AuthenticationError):
        await accounts.sign_in(EMAIL, "wrong password", "1.1.1.1")
    challenge = await accounts.sign_in(EMAIL, PW, "1.1.1.1")
    assert isinstance(challenge, SignInChallenge)
    clock.advance(30)
    session = await accounts.complete_sign_in(challenge.token, code(secret, clock), "1.1.1.1")
    assert session.user.id == user_id


async def test_a_code_of_a_step_already_used_or_older_is_refused(world):
    accounts, settings, clock = world
    _, secret, _ = await turned_on(accounts, settings, clock)  # used this step's code
    challenge = await accounts.sign_in(EMAIL, PW, "1.1.1.1")
    for stale in (code(secret, clock), code(secret, clock, -1)):
        with pytest.raises(AuthenticationError) as refused:
            await accounts.complete_sign_in(challenge.token, stale, "1.1.1.1")
        assert refused.value.code == "invalid_code"
    clock.advance(30)
    await accounts.complete_sign_in(challenge.token, code(secret, clock), "1.1.1.1")


async def test_a_recovery_code_works_once(world):
    accounts, settings, clock = world
    _, _, codes = await turned_on(accounts, settings, clock)
    challenge = await accounts.sign_in(EMAIL, PW, "1.1.1.1")
    await accounts.complete_sign_in(challenge.token, codes[0], "1.1.1.1")
    with pytest.raises(AuthenticationError):
        await accounts.complete_sign_in(challenge.token, codes[0], "1.1.1.1")


async def test_the_challenge_expires_after_five_minutes(world):
    accounts, settings, clock = world
    _, secret, _ = await turned_on(accounts, settings, clock)
    challenge = await accounts.sign_in(EMAIL, PW, "1.1.1.1")
    clock.advance(301)
    with pytest.raises(AuthenticationError) as refused:
        await accounts.complete_sign_in(challenge.token, code(secret, clock), "1.1.1.1")
    assert refused.value.code == "invalid_challenge"


async def test_ten_wrong_codes_from_one_place_stop_the_guessing(world):
    accounts, settings, clock = world
    _, secret, _ = await turned_on(accounts, settings, clock)
    challenge = await accounts.sign_in(EMAIL, PW, "6.6.6.6")
    clock.advance(30)
    right = code(secret, clock)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(10):
        with pytest.raises(AuthenticationError):
            await accounts.complete_sign_in(challenge.token, wrong, "6.6.6.6")
    with pytest.raises(RateLimitedError):
        await accounts.complete_sign_in(challenge.token, right, "6.6.6.6")


async def test_deletion_and_disabling_need_a_right_code(world):
    accounts, settings, clock = world
    user_id, secret, codes = await turned_on(accounts, settings, clock)
    with pytest.raises(PermissionDeniedError) as refused:
        await accounts.delete_account(user_id, PW)
    assert refused.value.code == "two_factor_required"
    with pytest.raises(PermissionDeniedError) as refused:
        await settings.disable(user_id, PW, "000000" if code(secret, clock, 1) != "000000"
                               else "111111")
    assert refused.value.code == "wrong_code"
    await settings.disable(user_id, PW, codes[5])
    assert not (await settings.status(user_id)).enabled
    await accounts.delete_account(user_id, PW)
