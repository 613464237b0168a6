"""Signing up and signing in (with a second factor when it is on): the limits on guessing,
the same time spent whether an account exists or not."""

from __future__ import annotations

import re
import secrets

from ..errors import AuthenticationError, ConflictError, InvalidInputError
from .policy import RateLimiter, SignInLimiters
from .ports import PasswordHasher, UserRepository
from .sessions import Session, Sessions, new_token
from .standing import SignInGate
from .two_factor import SecondFactor, SignInChallenge, expired_challenge, used_challenge
from .users import (
    MAX_PASSWORD_BYTES,
    normalise_email,
    validate_name,
    validate_password,
    validate_username,
)


def derive_username(email: str) -> str:
    base = re.sub(r"[^a-z0-9_]", "", email.split("@", 1)[0].lower())[:20] or "user"
    return f"{base}_{secrets.randbelow(10_000):04d}"


class SignIn:
    def __init__(self, *, users: UserRepository, hasher: PasswordHasher, sessions: Sessions,
                 limiters: SignInLimiters, sign_up_limiter: RateLimiter,
                 second_factor: SecondFactor | None, gate: SignInGate) -> None:
        self._users = users
        self._hasher = hasher
        self._sessions = sessions
        self._limits = limiters
        self._sign_up_limiter = sign_up_limiter
        self._second_factor = second_factor
        self._gate = gate
        self._dummy_hash: str | None = None

    async def sign_up(
        self, email: str, username: str | None, name: str, password: str,
        ip: str | None = None, user_agent: str = "",
    ) -> Session:
        if ip is not None:
            self._sign_up_limiter.consume(ip)  # before any hashing
        email = normalise_email(email)
        chosen = validate_username(username) if username is not None else None
        name = validate_name(name)
        validate_password(password)
        password_hash = await self._hasher.hash(password)
        for attempt in range(8):
            candidate = chosen or derive_username(email)
            try:
                user = await self._users.create(email, candidate, name, password_hash)
                break
            except ConflictError as exc:
                if chosen is not None or exc.code != "username_taken" or attempt == 7:
                    raise
        return await self._sessions.start(user, ip=ip, user_agent=user_agent)

    async def sign_in(self, email: str, password: str, ip: str,
                      user_agent: str = "") -> Session | SignInChallenge:
        """A session; or, with two-factor sign-in on, a challenge to send back with a code
        to `complete_sign_in` (asked only once the password is right)."""
        limits = self._limits
        limits.per_ip.consume(ip)
        try:
            email = normalise_email(email)
        except InvalidInputError:
            # Same answer as a wrong password: the shape of the email reveals nothing.
            raise AuthenticationError("Wrong email or password.", code="invalid_credentials")
        pair = f"{ip}|{email}"
        limits.failures_per_ip_account.check(pair)
        limits.failures_per_account.check(email)
        credentials = await self._users.credentials_by_email(email)
        if credentials is None or len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            # Spend the same time as a real check so response times reveal no accounts; an
            # overlong password is never hashed as given (argon2 cost grows with input).
            await self._hasher.verify(await self._dummy(), password[:64])
            ok = False
        else:
            ok = await self._hasher.verify(credentials.password_hash, password)
        if not ok or credentials is None:
            raise self._wrong_password(pair, email)

        limits.failures_per_ip_account.reset(pair)
        # A step of its own, after the password: a suspended account learns it is suspended
        # (and until when) only from the right password.
        await self._gate.check(credentials.user.id)
        # From here on, the password is right only while the hash it was checked against is
        # still stored: a change or reset may land meanwhile, and then it is the old one.
        user, password_hash, rechecked = credentials.user, credentials.password_hash, False
        if self._hasher.needs_rehash(password_hash):
            rehashed = await self._hasher.hash(password)
            if await self._users.replace_password_hash(user.id, password_hash, rehashed):
                password_hash = rehashed
            else:
                password_hash = await self._recheck(user.id, password, pair, email)
                rechecked = True
        if self._second_factor is not None:
            challenge = await self._second_factor.challenge(user.id, password_hash)
            if challenge is not None:
                return challenge
        session = await self._sessions.start_if_password(user, password_hash, ip=ip,
                                                         user_agent=user_agent)
        if session is None and not rechecked:
            session = await self._sessions.start_if_password(
                user, await self._recheck(user.id, password, pair, email), ip=ip,
                user_agent=user_agent)
        if session is None:
            raise self._wrong_password(pair, email)
        return session

    async def _recheck(self, user_id: int, password: str, pair: str, email: str) -> str:
        """The stored hash, once the one checked was replaced, if `password` is right against
        it too: another sign-in's rehash (after the argon2 parameters were raised) replaces
        it, and must not refuse this one. Refused as a wrong password after a change or
        reset. Done once per sign-in: it costs another argon2 check."""
        credentials = await self._users.credentials(user_id)
        if credentials is None or not await self._hasher.verify(credentials.password_hash,
                                                                password):
            raise self._wrong_password(pair, email)
        return credentials.password_hash

    def _wrong_password(self, pair: str, email: str) -> AuthenticationError:
        """Counts a wrong password (also the one a change replaced while it was checked)."""
        self._limits.failures_per_ip_account.hit(pair)
        self._limits.failures_per_account.hit(email)
        return AuthenticationError("Wrong email or password.", code="invalid_credentials")

    async def complete_sign_in(self, challenge: str, code: str, ip: str,
                               user_agent: str = "") -> Session:
        """The second step of a two-factor sign-in: the challenge `sign_in` answered and a
        code of the user's app (or a recovery code). Limited as sign-in is: per IP, and
        wrong codes per account."""
        limits = self._limits
        limits.per_ip.consume(ip)
        if self._second_factor is None:
            raise AuthenticationError("Two-factor sign-in is not set up here.",
                                      code="invalid_challenge")
        claims = self._second_factor.read_challenge(challenge)
        user_id = claims.user_id
        key = f"user:{user_id}"
        pair = f"{ip}|{key}"
        limits.failures_per_ip_account.check(pair)
        limits.failures_per_account.check(key)
        # The password was proved against the hash of the challenge's time: a change or
        # reset since then ended every session, and this sign-in is of the old password.
        credentials = await self._users.credentials(user_id)
        if credentials is None or not claims.made_under(credentials.password_hash):
            raise expired_challenge()
        # Before the code is spent: a challenge sent again must not cost a recovery code.
        if await self._second_factor.challenge_used(claims):
            raise used_challenge()
        if not await self._second_factor.check(user_id, code):
            limits.failures_per_ip_account.hit(pair)
            limits.failures_per_account.hit(key)
            raise AuthenticationError("The code is wrong or was already used.",
                                      code="invalid_code")
        limits.failures_per_ip_account.reset(pair)
        await self._gate.check(user_id)  # suspended between the password and the code
        # Only a right code uses the challenge (a wrong one leaves it to try again); of two
        # completions at once, one gets here first and the other is refused.
        if not await self._second_factor.use_challenge(claims):
            raise used_challenge()
        session = await self._sessions.start_if_password(
            credentials.user, credentials.password_hash, ip=ip, user_agent=user_agent)
        if session is None:  # changed between the check above and now
            raise expired_challenge()
        return session

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(new_token())
        return self._dummy_hash
