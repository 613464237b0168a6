"""Two-factor sign-in: time-based codes (TOTP, RFC 6238) and single-use recovery codes.

Optional per user. Setting it up hands out a secret (and its `otpauth://` URI for an
authenticator app); it is on only once a code from the app has been confirmed, and then ten
recovery codes are shown, once: only their hashes are kept. Each accepted TOTP time step is
recorded, so a code seen over someone's shoulder cannot be used again, nor can any code of
an earlier step. Sign-in asks for a code only after the password is right (see
`Accounts.sign_in`): it then answers a short-lived signed challenge, which is no session.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, TypeVar

from ..clock import Clock
from ..errors import AuthenticationError, ConflictError, PermissionDeniedError, field_error
from .users import Credentials
from .verification import Signer

T = TypeVar("T")

RECOVERY_CODE_COUNT = 10
# 12 characters of 32: 60 random bits. Enough that the fast hash kept of each cannot be
# reversed by guessing, unlike a 6-digit code; short enough to type from paper.
RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 12
# Codes of the step before and after the server's are accepted too: phones' clocks drift.
TOTP_WINDOW = 1


@dataclass(frozen=True, slots=True)
class TwoFactorState:
    user_id: int
    secret: str
    enabled_at: datetime | None  # None: set up, waiting for its first code
    recovery_codes_left: int


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What an authenticator app needs: the secret, also as an otpauth:// URI (a QR code)."""

    secret: str
    otpauth_uri: str


@dataclass(frozen=True, slots=True)
class SignInChallenge:
    """The answer to a right password when two-factor sign-in is on: proof of the password
    for a few minutes, to be sent back with a code. It is not a session."""

    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ChallengeClaims:
    """What a valid challenge says: whose sign-in, under which password, and the nonce and
    expiry that make it used once (`SecondFactor.use_challenge`)."""

    user_id: int
    password_fingerprint: str
    nonce: str
    expires_at: datetime

    def made_under(self, password_hash: str) -> bool:
        """Whether the challenge was made while `password_hash` was the stored one."""
        return secrets.compare_digest(self.password_fingerprint,
                                      password_fingerprint(password_hash))


def password_fingerprint(password_hash: str) -> str:
    """A short digest of the stored hash: it changes with the password, so a challenge
    taken before a change or reset is refused after it, and tells nothing of the hash."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class TotpAlgorithm(Protocol):
    def new_secret(self) -> str:
        """A new random base32 secret."""
        ...

    def uri(self, secret: str, account: str, issuer: str) -> str:
        """The otpauth:// URI an authenticator app reads (usually from a QR code)."""
        ...

    def step_of(self, secret: str, code: str, at: datetime, window: int) -> int | None:
        """The time step whose code is `code`, searched `window` steps either side of the
        one of `at`; None when none matches. Compares in constant time."""
        ...


class TwoFactorStore(Protocol):
    async def get(self, user_id: int) -> TwoFactorState | None: ...

    async def begin(self, user_id: int, secret: str, now: datetime, password_hash: str) -> bool:
        """Keep `secret` as the user's pending setup, replacing an earlier pending one,
        while `password_hash` is still stored (as `disable`). Never touches a setup that is
        on (the service checks; the store refuses too)."""
        ...

    async def enable(self, user_id: int, secret: str, step: int,
                     recovery_hashes: list[bytes], now: datetime) -> bool:
        """Turn the pending setup with this secret on, with its first used step and its
        recovery codes; False when that setup is no longer pending."""
        ...

    async def disable(self, user_id: int, password_hash: str) -> bool:
        """Forget the secret and every recovery code, while `password_hash` (the one the
        confirming password was verified against) is still stored: False, and nothing
        forgotten, once a change or reset replaced it."""
        ...

    async def claim_step(self, user_id: int, step: int) -> bool:
        """Record `step` as used if it is later than every step used before; False when it
        is not (a replay, or a code older than one already accepted)."""
        ...

    async def use_recovery_code(self, user_id: int, code_hash: bytes, now: datetime) -> bool:
        """Spend an unused recovery code; False when there is none with this hash."""
        ...

    async def replace_recovery_codes(self, user_id: int, hashes: list[bytes],
                                     password_hash: str) -> bool:
        """As `disable`, under the same condition."""
        ...

    async def challenge_used(self, nonce: str) -> bool:
        """Whether a sign-in challenge with this nonce was used."""
        ...

    async def use_challenge(self, user_id: int, nonce: str, expires_at: datetime) -> bool:
        """Record the challenge's nonce as used; False when it already was (or the user is
        gone). Of two at once, exactly one gets True."""
        ...

    async def delete_used_challenges(self, before: datetime) -> int:
        """Delete the used challenges that expired before `before`; how many."""
        ...


def hash_recovery_code(code: str) -> bytes:
    return hashlib.sha256(normalise_code(code).encode()).digest()


def normalise_code(code: str) -> str:
    """What was typed, without the spaces and dashes people add or copy along."""
    return "".join(c for c in code.lower() if c not in " -")


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i:i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
    return codes


class SecondFactor:
    """What sign-in and account deletion ask: is it on, is this code right, and the signed
    challenge between a sign-in's two steps."""

    def __init__(self, *, store: TwoFactorStore, totp: TotpAlgorithm, signer: Signer,
                 clock: Clock, challenge_ttl: timedelta = timedelta(minutes=5)) -> None:
        self.store = store
        self.totp = totp
        self._signer = signer
        self._clock = clock
        self.challenge_ttl = challenge_ttl

    async def is_on(self, user_id: int) -> bool:
        state = await self.store.get(user_id)
        return state is not None and state.enabled_at is not None

    async def challenge(self, user_id: int, password_hash: str) -> SignInChallenge | None:
        """A challenge for a sign-in whose password, stored as `password_hash`, was right;
        None when the account has two-factor sign-in off."""
        if not await self.is_on(user_id):
            return None
        expires_at = self._clock.now() + self.challenge_ttl
        expires = int(expires_at.timestamp())
        nonce = secrets.token_urlsafe(12)
        fingerprint = password_fingerprint(password_hash)
        mac = self._signer.sign(_challenge_message(user_id, expires, nonce, fingerprint))
        return SignInChallenge(f"{user_id}.{expires}.{nonce}.{fingerprint}.{mac}", expires_at)

    def read_challenge(self, token: str) -> ChallengeClaims:
        """What a valid, unexpired challenge was made for; AuthenticationError
        (invalid_challenge) otherwise. The caller checks `made_under` the current hash."""
        parts = token.split(".")
        if len(parts) != 5 or not parts[0].isdigit() or not parts[1].isdigit():
            raise expired_challenge()
        user_id, expires, nonce, fingerprint, mac = (int(parts[0]), int(parts[1]), *parts[2:])
        if expires < self._clock.now().timestamp() or not self._signer.matches(
                _challenge_message(user_id, expires, nonce, fingerprint), mac):
            raise expired_challenge()
        return ChallengeClaims(user_id, fingerprint, nonce,
                               datetime.fromtimestamp(expires, UTC))

    async def challenge_used(self, claims: ChallengeClaims) -> bool:
        """Whether the challenge already started a session: asked before its code is spent."""
        return await self.store.challenge_used(claims.nonce)

    async def use_challenge(self, claims: ChallengeClaims) -> bool:
        """Record the challenge as used, once its code was right; False when another
        completion did first (on any instance): only one session per challenge."""
        return await self.store.use_challenge(claims.user_id, claims.nonce, claims.expires_at)

    async def purge_used_challenges(self, before: datetime) -> int:
        """Forget the used challenges that expired before `before`: they are refused anyway."""
        return await self.store.delete_used_challenges(before)

    async def check(self, user_id: int, code: str) -> bool:
        """True, once, for a current code of the user's app or an unused recovery code of
        theirs; False for anything else, also when two-factor sign-in is off."""
        state = await self.store.get(user_id)
        if state is None or state.enabled_at is None:
            return False
        typed = normalise_code(code)
        if len(typed) == 6 and typed.isdigit():
            step = self.totp.step_of(state.secret, typed, self._clock.now(), TOTP_WINDOW)
            return step is not None and await self.store.claim_step(user_id, step)
        if len(typed) == RECOVERY_LENGTH:
            return await self.store.use_recovery_code(user_id, hash_recovery_code(typed),
                                                      self._clock.now())
        return False


def _challenge_message(user_id: int, expires: int, nonce: str, fingerprint: str) -> str:
    return f"two-factor-sign-in|{user_id}|{expires}|{nonce}|{fingerprint}"


def expired_challenge() -> AuthenticationError:
    return AuthenticationError("This sign-in has expired: enter your password again.",
                               code="invalid_challenge")


def used_challenge() -> AuthenticationError:
    return AuthenticationError("This sign-in was already completed: enter your password "
                               "again.", code="invalid_challenge")


class Confirmations(Protocol):
    """The account's own checks (Accounts): each counts a failure against the account's
    sign-in rate limit, as a wrong password at sign-in does."""

    async def confirm_password(self, user_id: int, password: str) -> Credentials: ...

    async def confirm_second_factor(self, user_id: int, code: str | None) -> None: ...

    async def written_with_password(self, user_id: int, password: str, checked: Credentials,
                                    write: Callable[[str], Awaitable[T | None]]) -> T: ...


@dataclass(frozen=True, slots=True)
class TwoFactorStatus:
    enabled: bool
    enabled_at: datetime | None
    recovery_codes_left: int
    pending: bool  # set up, waiting for its first code


class TwoFactorSettings:
    """The user's own use cases: set up, confirm, disable, new recovery codes."""

    def __init__(self, factor: SecondFactor, confirmations: Confirmations, clock: Clock,
                 issuer: str = "Nirvana") -> None:
        self._factor = factor
        self._store = factor.store
        self._totp = factor.totp
        self._confirm = confirmations
        self._clock = clock
        self._issuer = issuer

    async def status(self, user_id: int) -> TwoFactorStatus:
        state = await self._store.get(user_id)
        if state is None:
            return TwoFactorStatus(False, None, 0, False)
        on = state.enabled_at is not None
        return TwoFactorStatus(on, state.enabled_at, state.recovery_codes_left if on else 0,
                               not on)

    async def pending_setup(self, user_id: int, account: str) -> Enrolment | None:
        """The setup waiting for its first code, to show again (a mistyped code)."""
        state = await self._store.get(user_id)
        if state is None or state.enabled_at is not None:
            return None
        return Enrolment(state.secret, self._totp.uri(state.secret, account, self._issuer))

    async def set_up(self, user_id: int, password: str) -> Enrolment:
        """A new secret for the user's app, confirmed by the password; it is on only after
        `confirm`. Calling it again replaces a setup not yet confirmed."""
        confirmed = await self._confirm.confirm_password(user_id, password)
        if await self._factor.is_on(user_id):
            raise ConflictError("Two-factor sign-in is already on.", code="two_factor_on")
        secret = self._totp.new_secret()
        # Not once a reset replaced the password checked: its owner might confirm a setup
        # whose secret whoever knew the old password has.
        await self._confirm.written_with_password(
            user_id, password, confirmed,
            lambda checked: self._store.begin(user_id, secret, self._clock.now(), checked))
        return Enrolment(secret, self._totp.uri(secret, confirmed.user.email, self._issuer))

    async def confirm(self, user_id: int, code: str) -> list[str]:
        """Turn it on with a code from the app; the recovery codes, shown this once."""
        state = await self._store.get(user_id)
        if state is None or state.enabled_at is not None:
            raise ConflictError("Set up two-factor sign-in first.", code="no_pending_setup")
        typed = normalise_code(code)
        step = (self._totp.step_of(state.secret, typed, self._clock.now(), TOTP_WINDOW)
                if len(typed) == 6 and typed.isdigit() else None)
        if step is None:
            raise field_error("code", "is not the current code of your app", "invalid_code")
        codes = new_recovery_codes()
        if not await self._store.enable(user_id, state.secret, step,
                                        [hash_recovery_code(c) for c in codes],
                                        self._clock.now()):
            raise ConflictError("Set up two-factor sign-in first.", code="no_pending_setup")
        return codes

    async def disable(self, user_id: int, password: str, code: str) -> None:
        """Turn it off, confirmed by the password and a code (or a recovery code)."""
        confirmed = await self._confirm.confirm_password(user_id, password)
        if not await self._factor.is_on(user_id):
            raise ConflictError("Two-factor sign-in is off.", code="two_factor_off")
        await self._confirm.confirm_second_factor(user_id, code)
        await self._confirm.written_with_password(
            user_id, password, confirmed,
            lambda checked: self._store.disable(user_id, checked))

    async def new_recovery_codes(self, user_id: int, password: str, code: str) -> list[str]:
        """Replace every recovery code (used or not) with ten new ones, shown this once."""
        confirmed = await self._confirm.confirm_password(user_id, password)
        if not await self._factor.is_on(user_id):
            raise ConflictError("Two-factor sign-in is off.", code="two_factor_off")
        await self._confirm.confirm_second_factor(user_id, code)
        codes = new_recovery_codes()
        hashes = [hash_recovery_code(c) for c in codes]
        await self._confirm.written_with_password(
            user_id, password, confirmed,
            lambda checked: self._store.replace_recovery_codes(user_id, hashes, checked))
        return codes


def wrong_code() -> PermissionDeniedError:
    return PermissionDeniedError("The two-factor code is wrong or was already used.",
                                 code="wrong_code")


def code_needed() -> PermissionDeniedError:
    return PermissionDeniedError("Two-factor sign-in is on: send a code from your app (or a "
                                 "recovery code) as `code`.", code="two_factor_required")
