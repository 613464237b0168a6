"""Accounts use cases: sign up, sign in, sessions (and the list of them), passwords, email,
deletion, profile.

`Accounts` receives every port it uses; it never touches a socket, a database driver or a
clock of its own, so `tests/unit/test_accounts.py` runs it on in-memory fakes.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    field_error,
)
from .ports import (
    AccessClaims,
    AccessTokens,
    Mailer,
    PasswordHasher,
    PasswordResetStore,
    RefreshTokenStore,
    SessionStore,
    UserRepository,
)
from .deletion import AccountDeleted, AccountEvents, NoAccountListeners
from .standing import AnyoneMaySignIn, SignInGate
from .devices import DeviceSession, coarse_ip, describe_device
from .two_factor import SecondFactor, SignInChallenge, code_needed, wrong_code
from .verification import (
    Signer,
    link_matches,
    make_link_token,
    mask_email,
    read_link_token,
)
from ..clock import Clock
from ..ratelimit import Limit, SlidingWindowLimiter
from .users import (
    MAX_PASSWORD_BYTES,
    ProfileChanges,
    User,
    normalise_email,
    validate_name,
    validate_password,
    validate_profile_changes,
    validate_username,
)

# A second claim of a refresh token within this many seconds of the first is taken for a
# client racing itself (two tabs refreshing at once), answered 401 without revoking the
# family; later reuse is the signal of a stolen token and revokes the whole family.
REFRESH_RACE_GRACE = timedelta(seconds=10)


@dataclass(frozen=True)
class AccountPolicy:
    access_ttl: timedelta = timedelta(minutes=15)
    refresh_ttl: timedelta = timedelta(days=7)
    reset_ttl: timedelta = timedelta(minutes=30)
    base_url: str = "http://127.0.0.1:8000"
    # Accounts created from one IP: each costs an argon2 hash and a row.
    sign_up_per_ip: Limit = Limit(20, 3600)
    # Every sign-in attempt from one IP.
    sign_in_per_ip: Limit = Limit(30, 60)
    # Failures for one account from one IP: stops guessing from one place without letting an
    # attacker elsewhere lock the owner out.
    failures_per_ip_account: Limit = Limit(10, 15 * 60)
    # Failures for one account from anywhere: a high ceiling that bounds distributed guessing.
    failures_per_account: Limit = Limit(100, 3600)
    forgot_per_ip: Limit = Limit(10, 3600)
    forgot_per_account: Limit = Limit(3, 3600)
    verify_ttl: timedelta = timedelta(days=2)
    # Verification links mailed on request to one account.
    verify_mails_per_account: Limit = Limit(3, 3600)


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    access_token: str
    access_expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime
    session_id: str


@dataclass
class AccessRevocations:
    """Which access tokens, though validly signed and unexpired, are no longer accepted.

    Kept in memory so checking a token costs no database round trip; only revocations younger
    than the access-token lifetime matter, and `Accounts.load_revocations` reloads those at
    start.
    """

    sessions: dict[str, datetime] = field(default_factory=dict)
    users: dict[int, datetime] = field(default_factory=dict)
    # Deleted accounts: every token refused, also one issued in the second of the deletion.
    deleted: dict[int, datetime] = field(default_factory=dict)

    def is_revoked(self, claims: AccessClaims) -> bool:
        if claims.session_id in self.sessions or claims.user_id in self.deleted:
            return True
        before = self.users.get(claims.user_id)
        return before is not None and claims.issued_at < int(before.timestamp())

    def prune(self, older_than: datetime) -> None:
        self.sessions = {k: v for k, v in self.sessions.items() if v >= older_than}
        self.users = {k: v for k, v in self.users.items() if v >= older_than}
        self.deleted = {k: v for k, v in self.deleted.items() if v >= older_than}


def hash_token(token: str) -> bytes:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


def derive_username(email: str) -> str:
    base = re.sub(r"[^a-z0-9_]", "", email.split("@", 1)[0].lower())[:20] or "user"
    return f"{base}_{secrets.randbelow(10_000):04d}"


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Accounts:
    def __init__(
        self,
        *,
        users: UserRepository,
        refresh_tokens: RefreshTokenStore,
        sessions: SessionStore,
        resets: PasswordResetStore,
        hasher: PasswordHasher,
        tokens: AccessTokens,
        mailer: Mailer,
        clock: Clock,
        signer: Signer,
        policy: AccountPolicy = AccountPolicy(),
        events: AccountEvents = NoAccountListeners(),
        second_factor: SecondFactor | None = None,
        sign_in_gate: SignInGate = AnyoneMaySignIn(),
    ) -> None:
        self.users = users
        self._refresh = refresh_tokens
        self._sessions = sessions
        self._resets = resets
        self._hasher = hasher
        self._tokens = tokens
        self._mailer = mailer
        self._clock = clock
        self._events = events
        self._signer = signer
        self._second_factor = second_factor
        self._sign_in_gate = sign_in_gate
        self.policy = policy
        self.revocations = AccessRevocations()
        self._ip_limiter = SlidingWindowLimiter(policy.sign_in_per_ip, clock)
        self._sign_up_limiter = SlidingWindowLimiter(policy.sign_up_per_ip, clock)
        self._ip_account_limiter = SlidingWindowLimiter(policy.failures_per_ip_account, clock)
        self._account_limiter = SlidingWindowLimiter(policy.failures_per_account, clock)
        self._forgot_ip_limiter = SlidingWindowLimiter(policy.forgot_per_ip, clock)
        self._forgot_account_limiter = SlidingWindowLimiter(policy.forgot_per_account, clock)
        self._verify_mail_limiter = SlidingWindowLimiter(policy.verify_mails_per_account, clock)
        self._dummy_hash: str | None = None

    # -- sessions -------------------------------------------------------------------------

    async def load_revocations(self) -> None:
        since = self._clock.now() - self.policy.access_ttl
        self.revocations.sessions.update(await self._refresh.recently_revoked_families(since))
        self.revocations.users.update(await self.users.recent_access_revocations(since))
        self.revocations.deleted.update(await self.users.recently_deleted(since))

    def authenticate(self, access_token: str) -> AccessClaims:
        """The claims of a valid access token; AuthenticationError otherwise. No I/O."""
        claims = self._tokens.verify(access_token)
        if self.revocations.is_revoked(claims):
            raise AuthenticationError("This session has ended.", code="session_revoked")
        return claims

    async def _start_session(self, user: User, family_id: str | None = None, *,
                             ip: str | None = None, user_agent: str = "") -> Session:
        now = self._clock.now()
        if family_id is None:
            family_id = str(uuid.uuid4())
            await self._sessions.start(family_id, user.id, describe_device(user_agent),
                                       coarse_ip(ip or ""), now)
        else:
            await self._sessions.touch(family_id, now)
        refresh = new_token()
        refresh_expires = now + self.policy.refresh_ttl
        await self._refresh.add(user.id, family_id, hash_token(refresh), refresh_expires)
        access, access_expires = self._tokens.issue(user.id, family_id)
        return Session(user, access, access_expires, refresh, refresh_expires, family_id)

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
                user = await self.users.create(email, candidate, name, password_hash)
                break
            except ConflictError as exc:
                if chosen is not None or exc.code != "username_taken" or attempt == 7:
                    raise
        return await self._start_session(user, ip=ip, user_agent=user_agent)

    async def sign_in(self, email: str, password: str, ip: str,
                      user_agent: str = "") -> Session | SignInChallenge:
        """A session; or, with two-factor sign-in on, a challenge to send back with a code
        to `complete_sign_in` (asked only once the password is right)."""
        self._ip_limiter.consume(ip)
        try:
            email = normalise_email(email)
        except InvalidInputError:
            # Same answer as a wrong password: the shape of the email reveals nothing.
            raise AuthenticationError("Wrong email or password.", code="invalid_credentials")
        pair = f"{ip}|{email}"
        self._ip_account_limiter.check(pair)
        self._account_limiter.check(email)
        credentials = await self.users.credentials_by_email(email)
        if credentials is None or len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            # Spend the same time as a real check so response times reveal no accounts; an
            # overlong password is never hashed as given (argon2 cost grows with input).
            await self._hasher.verify(await self._dummy(), password[:64])
            ok = False
        else:
            ok = await self._hasher.verify(credentials.password_hash, password)
        if not ok or credentials is None:
            self._ip_account_limiter.hit(pair)
            self._account_limiter.hit(email)
            raise AuthenticationError("Wrong email or password.", code="invalid_credentials")

        self._ip_account_limiter.reset(pair)
        # A step of its own, after the password: a suspended account learns it is suspended
        # (and until when) only from the right password.
        await self._sign_in_gate.check(credentials.user.id)
        if self._hasher.needs_rehash(credentials.password_hash):
            await self.users.set_password_hash(
                credentials.user.id, await self._hasher.hash(password)
            )
        if self._second_factor is not None:
            challenge = await self._second_factor.challenge(credentials.user.id)
            if challenge is not None:
                return challenge
        return await self._start_session(credentials.user, ip=ip, user_agent=user_agent)

    async def complete_sign_in(self, challenge: str, code: str, ip: str,
                               user_agent: str = "") -> Session:
        """The second step of a two-factor sign-in: the challenge `sign_in` answered and a
        code of the user's app (or a recovery code). Limited as sign-in is: per IP, and
        wrong codes per account."""
        self._ip_limiter.consume(ip)
        if self._second_factor is None:
            raise AuthenticationError("Two-factor sign-in is not set up here.",
                                      code="invalid_challenge")
        user_id = self._second_factor.read_challenge(challenge)
        key = f"user:{user_id}"
        pair = f"{ip}|{key}"
        self._ip_account_limiter.check(pair)
        self._account_limiter.check(key)
        if not await self._second_factor.check(user_id, code):
            self._ip_account_limiter.hit(pair)
            self._account_limiter.hit(key)
            raise AuthenticationError("The code is wrong or was already used.",
                                      code="invalid_code")
        self._ip_account_limiter.reset(pair)
        user = await self.users.get(user_id)
        if user is None:
            raise AuthenticationError("This sign-in has expired: enter your password again.",
                                      code="invalid_challenge")
        await self._sign_in_gate.check(user_id)  # suspended between the password and the code
        return await self._start_session(user, ip=ip, user_agent=user_agent)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self._hasher.hash(new_token())
        return self._dummy_hash

    async def refresh(self, refresh_token: str) -> Session:
        now = self._clock.now()
        token_hash = hash_token(refresh_token)
        record = await self._refresh.claim(token_hash, now)
        if record is None:
            found = await self._refresh.find(token_hash)
            if found is not None and found.used_at is not None and found.revoked_at is None:
                if now - found.used_at <= REFRESH_RACE_GRACE:
                    raise AuthenticationError(
                        "This refresh token was just used; use the one issued with it.",
                        code="refresh_token_rotated",
                    )
                await self._revoke_family(found.family_id, now)
                raise AuthenticationError(
                    "This refresh token was already used; the session has been ended.",
                    code="refresh_token_reused",
                )
            raise AuthenticationError("Invalid refresh token.", code="invalid_refresh_token")
        user = await self.users.get(record.user_id)
        if user is None:
            raise AuthenticationError("Invalid refresh token.", code="invalid_refresh_token")
        return await self._start_session(user, record.family_id)

    async def _revoke_family(self, family_id: str, now: datetime) -> None:
        await self._refresh.revoke_family(family_id, now)
        self.revocations.sessions[family_id] = now

    async def log_out(self, claims: AccessClaims | None, refresh_token: str | None) -> None:
        now = self._clock.now()
        if claims is not None:
            await self._revoke_family(claims.session_id, now)
        if refresh_token:
            found = await self._refresh.find(hash_token(refresh_token))
            if found is not None:
                await self._revoke_family(found.family_id, now)
        self.revocations.prune(now - self.policy.access_ttl)

    async def list_sessions(self, user_id: int) -> list[DeviceSession]:
        """The user's open sessions (signed-in devices), most recently used first."""
        return await self._sessions.open_sessions(user_id, self._clock.now())

    async def end_session(self, user_id: int, session_id: str) -> None:
        """End one of the user's own sessions: its refresh tokens stop working, its access
        tokens are refused at once and its sockets close (ws/session_watch.py)."""
        if session_id not in {s.id for s in await self.list_sessions(user_id)}:
            raise NotFoundError("You have no open session with this id.",
                                code="session_not_found")
        await self._revoke_family(session_id, self._clock.now())

    async def end_other_sessions(self, user_id: int, current_session_id: str) -> int:
        """End every session of the user but the current one; how many were ended."""
        now = self._clock.now()
        ended = 0
        for session in await self.list_sessions(user_id):
            if session.id != current_session_id:
                await self._revoke_family(session.id, now)
                ended += 1
        return ended

    # -- passwords ------------------------------------------------------------------------

    async def _end_all_sessions(self, user_id: int) -> None:
        now = self._clock.now()
        await self._refresh.revoke_user(user_id, now)
        await self.users.revoke_access_before(user_id, now)
        self.revocations.users[user_id] = now

    async def end_all_sessions(self, user_id: int) -> None:
        """End every session of the account, also one started this very second: its refresh
        tokens are revoked, its access tokens refused at once and its sockets close
        (ws/session_watch.py). Used by suspension, which refuses the next sign-in."""
        now = self._clock.now()
        # An access token's `iat` is in whole seconds: refusing those issued before the next
        # second refuses one issued in this second too. Nothing is issued meanwhile: the
        # caller has made sign-in refuse the account first.
        until = now.replace(microsecond=0) + timedelta(seconds=1)
        await self._refresh.revoke_user(user_id, now)
        await self.users.revoke_access_before(user_id, until)
        self.revocations.users[user_id] = until

    async def confirm_password(self, user_id: int, password: str) -> User:
        """The user, if `password` is theirs; PermissionDeniedError(wrong_password) and a
        failure counted against the account (as at sign-in) otherwise."""
        key = f"user:{user_id}"
        self._account_limiter.check(key)
        credentials = await self.users.credentials(user_id)
        if credentials is None:
            raise AuthenticationError("This account no longer exists.", code="unknown_user")
        if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES or not await self._hasher.verify(
            credentials.password_hash, password
        ):
            self._account_limiter.hit(key)
            raise PermissionDeniedError(
                "The current password is wrong.", code="wrong_password"
            )
        return credentials.user

    async def confirm_second_factor(self, user_id: int, code: str | None) -> None:
        """Nothing when two-factor sign-in is off or `code` is right; PermissionDeniedError
        (two_factor_required, wrong_code) otherwise, a wrong code counted as a wrong
        password is."""
        if self._second_factor is None or not await self._second_factor.is_on(user_id):
            return
        if not code:
            raise code_needed()
        key = f"user:{user_id}"
        self._account_limiter.check(key)
        if not await self._second_factor.check(user_id, code):
            self._account_limiter.hit(key)
            raise wrong_code()

    async def change_password(self, user_id: int, current: str, new: str, *,
                              ip: str | None = None, user_agent: str = "") -> Session:
        validate_password(new, "new_password")
        user = await self.confirm_password(user_id, current)
        await self.users.set_password_hash(user_id, await self._hasher.hash(new))
        await self._end_all_sessions(user_id)
        # The device that changed the password goes on, as a new session.
        return await self._start_session(user, ip=ip, user_agent=user_agent)

    def check_forgot_rate(self, ip: str) -> None:
        """Count one forgot-password request from `ip`; RateLimitedError past the limit."""
        self._forgot_ip_limiter.consume(ip)

    async def request_password_reset(self, email: str, ip: str) -> None:
        """Mail a reset link if the account exists. Does the same work-free return otherwise.

        Call `check_forgot_rate(ip)` first; this part may run after the response is sent.
        """
        try:
            email = normalise_email(email)
        except InvalidInputError:
            return
        try:
            self._forgot_account_limiter.consume(email)
        except RateLimitedError:
            return  # silently: saying so would tell that the address is known
        credentials = await self.users.credentials_by_email(email)
        if credentials is None:
            return
        token = new_token()
        expires = self._clock.now() + self.policy.reset_ttl
        await self._resets.replace(credentials.user.id, hash_token(token), expires)
        minutes = int(self.policy.reset_ttl.total_seconds() // 60)
        await self._mailer.send(
            credentials.user.email,
            "Reset your Nirvana password",
            f"Hello {credentials.user.name},\n\n"
            f"Someone asked to reset the password of your Nirvana account. If it was you,\n"
            f"open this link within {minutes} minutes:\n\n"
            f"  {self.policy.base_url}/reset-password?token={token}\n\n"
            f"or send this token to POST /api/v1/user/password/reset:\n\n  {token}\n\n"
            f"If it was not you, ignore this message; your password stays as it is.\n",
        )

    async def reset_password(self, token: str, new_password: str) -> None:
        validate_password(new_password, "new_password")
        user_id = await self._resets.consume(hash_token(token), self._clock.now())
        if user_id is None:
            raise field_error("token", "is invalid, used or expired", "invalid_token")
        await self.users.set_password_hash(user_id, await self._hasher.hash(new_password))
        await self._end_all_sessions(user_id)
        user = await self.users.get(user_id)
        if user is not None:  # the confirmation: whoever did not ask learns of it at once
            await self._mailer.send(
                user.email,
                "Your Nirvana password was changed",
                f"Hello {user.name},\n\n"
                f"The password of your Nirvana account was just reset, and every device "
                f"signed in to it was signed out.\n\n"
                f"If that was you, there is nothing to do. If it was not, reset it again "
                f"at once:\n\n  {self.policy.base_url}/forgot-password\n",
            )

    async def purge_expired(self) -> int:
        """Delete refresh and reset tokens that expired over a day ago (kept a day so a late
        reuse of a refresh token is still recognised as reuse rather than as garbage)."""
        before = self._clock.now() - timedelta(days=1)
        self.revocations.prune(self._clock.now() - self.policy.access_ttl)
        purged = await self._refresh.delete_expired(before)
        purged += await self._resets.delete_expired(before)
        return purged + await self._sessions.delete_closed(before)

    # -- email ------------------------------------------------------------------------------

    async def send_verification(self, user_id: int) -> None:
        """Mail a link that verifies the account's current address. ConflictError
        (already_verified) if it is; RateLimitedError past 3 mails an hour."""
        user = await self.me(user_id)
        if user.email_verified:
            raise ConflictError("Your email is already verified.", code="already_verified")
        self._verify_mail_limiter.consume(f"user:{user_id}")
        await self._mail_verification(user)

    async def _mail_verification(self, user: User) -> None:
        expires = self._clock.now() + self.policy.verify_ttl
        token = make_link_token(self._signer, user.id, user.email, expires)
        days = self.policy.verify_ttl.days or 1
        await self._mailer.send(
            user.email,
            "Confirm your email for Nirvana",
            f"Hello {user.name},\n\n"
            f"Open this link within {days} days to confirm that this address is yours:\n\n"
            f"  {self.policy.base_url}/verify-email?token={token}\n\n"
            f"or send this token to POST /api/v1/user/email/verify:\n\n  {token}\n\n"
            f"If you did not sign up for Nirvana, ignore this message.\n",
        )

    async def verify_email(self, token: str) -> User:
        """Verify the address a link was sent to, if the account still has it. Idempotent."""
        invalid = field_error("token", "is invalid, expired or for an older address",
                              "invalid_token")
        parsed = read_link_token(token)
        if parsed is None:
            raise invalid
        user_id, expires, mac = parsed
        if expires < self._clock.now().timestamp():
            raise invalid
        user = await self.users.get(user_id)
        if user is None or not link_matches(self._signer, user_id, expires, user.email, mac):
            raise invalid
        if user.email_verified:
            return user
        verified = await self.users.mark_email_verified(user_id, user.email)
        if verified is None:  # the address changed meanwhile
            raise invalid
        return verified

    async def change_email(self, user_id: int, password: str, new_email: str) -> User:
        """Change the address, confirmed by the password: the new one is unverified and gets
        a link; the old one is told, in case it was not the owner."""
        email = normalise_email(new_email)
        user = await self.confirm_password(user_id, password)
        if email == user.email:
            raise field_error("email", "is already your email", "unchanged")
        updated = await self.users.change_email(user_id, email)
        await self._mail_verification(updated)
        await self._mailer.send(
            user.email,
            "Your Nirvana email was changed",
            f"Hello {user.name},\n\n"
            f"The email of your Nirvana account was changed to {mask_email(email)}.\n"
            f"If that was not you, reset your password at once:\n\n"
            f"  {self.policy.base_url}/forgot-password\n",
        )
        return updated

    # -- deletion -------------------------------------------------------------------------

    async def delete_account(self, user_id: int, password: str,
                             code: str | None = None) -> None:
        """Delete the account, confirmed by its password (and a two-factor code when that
        is on): at once it cannot sign in, its
        tokens are refused and its sockets close (ws/session_watch.py), its profile is gone
        and so is everything it had in PostgreSQL. `AccountDeleted` is then published, for
        what other stores hold (see domain/accounts/deletion.py)."""
        user = await self.confirm_password(user_id, password)
        await self.confirm_second_factor(user_id, code)
        now = self._clock.now()
        await self.users.delete(user_id, now)
        self.revocations.deleted[user_id] = now
        self._events.publish(AccountDeleted(user_id, now, user.email))

    # -- profile --------------------------------------------------------------------------

    async def me(self, user_id: int) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise AuthenticationError("This account no longer exists.", code="unknown_user")
        return user

    async def update_profile(self, user_id: int, changes: ProfileChanges) -> User:
        return await self.users.update_profile(user_id, validate_profile_changes(changes))
