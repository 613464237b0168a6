"""Email verification and change, on fakes: signed links that expire and die with the address."""

from __future__ import annotations

import re

import pytest

from nirvana.domain.errors import (
    ConflictError,
    InvalidInputError,
    PermissionDeniedError,
    RateLimitedError,
)
from nirvana.security import HmacSigner
from tests.support.accounts_world import accounts_world

PW = "password one"


@pytest.fixture
def world():
    w = accounts_world(signer=HmacSigner("s" * 48))
    return w.accounts, w.clock, w.mailer


def token_in(body: str) -> str:
    return re.search(r"verify-email\?token=(\S+)", body).group(1)


async def test_the_mailed_link_verifies_the_address_once_and_again_harmlessly(world):
    accounts, _, mailer = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    assert not session.user.email_verified
    await accounts.send_verification(session.user.id)
    to, subject, body = mailer.sent[-1]
    assert to == "a@example.com" and "Confirm" in subject
    assert "a@example.com" not in token_in(body)  # the address is not in the link
    assert (await accounts.verify_email(token_in(body))).email_verified
    assert (await accounts.verify_email(token_in(body))).email_verified
    with pytest.raises(ConflictError) as info:
        await accounts.send_verification(session.user.id)
    assert info.value.code == "already_verified"


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # a forged MAC
    lambda t: "2." + t.split(".", 1)[1],                             # another user's id
    lambda t: "garbage",
])
async def test_a_tampered_link_verifies_nothing(world, mangle):
    accounts, _, mailer = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    await accounts.sign_up("b@example.com", None, "Bob", PW)
    await accounts.send_verification(session.user.id)
    with pytest.raises(InvalidInputError) as info:
        await accounts.verify_email(mangle(token_in(mailer.sent[-1][2])))
    assert info.value.details[0]["field"] == "token"
    assert not (await accounts.me(session.user.id)).email_verified


async def test_a_link_expires_after_two_days(world):
    accounts, clock, mailer = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    await accounts.send_verification(session.user.id)
    clock.advance(2 * 24 * 3600 + 1)
    with pytest.raises(InvalidInputError):
        await accounts.verify_email(token_in(mailer.sent[-1][2]))


async def test_changing_the_email_unverifies_it_mails_both_and_voids_old_links(world):
    accounts, _, mailer = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    await accounts.send_verification(session.user.id)
    old_link = token_in(mailer.sent[-1][2])
    with pytest.raises(PermissionDeniedError):
        await accounts.change_email(session.user.id, "wrong", "new@example.com")
    changed = await accounts.change_email(session.user.id, PW, " New@Example.com ")
    assert changed.email == "new@example.com" and not changed.email_verified
    (to_new, _, verify_body), (to_old, _, notice) = mailer.sent[-2:]
    assert to_new == "new@example.com" and to_old == "a@example.com"
    assert "n**@example.com" in notice and "new@example.com" not in notice
    with pytest.raises(InvalidInputError):
        await accounts.verify_email(old_link)  # sent to the old address
    assert (await accounts.verify_email(token_in(verify_body))).email_verified


async def test_an_email_someone_else_has_is_refused(world):
    accounts, *_ = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    await accounts.sign_up("b@example.com", None, "Bob", PW)
    with pytest.raises(ConflictError) as info:
        await accounts.change_email(session.user.id, PW, "B@example.com")
    assert info.value.code == "email_taken"


async def test_verification_mails_are_limited_per_account(world):
    accounts, *_ = world
    session = await accounts.sign_up("a@example.com", None, "Ann", PW)
    for _ in range(3):
        await accounts.send_verification(session.user.id)
    with pytest.raises(RateLimitedError):
        await accounts.send_verification(session.user.id)
