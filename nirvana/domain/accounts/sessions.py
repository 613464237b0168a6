"""Sessions: a signed-in device's access and refresh tokens, refresh with reuse detection,
signing out, the list of sessions, and which access tokens are no longer accepted."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..clock import Clock
from ..errors import AuthenticationError, NotFoundError
from .devices import DeviceSession, coarse_ip, describe_device
from .policy import AccountPolicy
from .ports import AccessClaims, AccessTokens, RefreshTokenStore, SessionStore, UserRepository
from .users import User

# A second claim of a refresh token within this many seconds of the first is taken for a
# client racing itself (two tabs refreshing at once), answered 401 without revoking the
# family; later reuse is the signal of a stolen token and revokes the whole family.
REFRESH_RACE_GRACE = timedelta(seconds=10)
# A revocation is kept this much longer than an access token lives: a token issued a moment
# after it (a rotation that came first, `iat` rounded down) expires up to a second later.
REVOCATION_MARGIN = timedelta(minutes=1)


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
    than the access-token lifetime matter, and `Sessions.load_revocations` reloads those at
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


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Sessions:
    def __init__(self, *, users: UserRepository, refresh_tokens: RefreshTokenStore,
                 sessions: SessionStore, tokens: AccessTokens, clock: Clock,
                 policy: AccountPolicy) -> None:
        self._users = users
        self._refresh = refresh_tokens
        self._sessions = sessions
        self._tokens = tokens
        self._clock = clock
        self._policy = policy
        self.revocations = AccessRevocations()

    async def load_revocations(self) -> None:
        since = self._revocations_since()
        self.revocations.sessions.update(await self._refresh.recently_revoked_families(since))
        self.revocations.users.update(await self._users.recent_access_revocations(since))
        self.revocations.deleted.update(await self._users.recently_deleted(since))

    def _revocations_since(self) -> datetime:
        """Revocations older than this refuse no token that is still unexpired."""
        return self._clock.now() - self._policy.access_ttl - REVOCATION_MARGIN

    def authenticate(self, access_token: str) -> AccessClaims:
        """The claims of a valid access token; AuthenticationError otherwise. No I/O."""
        claims = self._tokens.verify(access_token)
        if self.revocations.is_revoked(claims):
            raise AuthenticationError("This session has ended.", code="session_revoked")
        return claims

    async def start(self, user: User, *, ip: str | None = None,
                    user_agent: str = "") -> Session:
        """A new session of `user` on this device."""
        session = await self._start(user, None, ip, user_agent)
        if session is None:
            raise AssertionError("a session with no password to match is always stored")
        return session

    async def start_if_password(self, user: User, password_hash: str, *,
                                ip: str | None = None, user_agent: str = "") -> Session | None:
        """A new session of `user`, who proved the password whose hash is `password_hash`;
        None, and nothing started, once that is no longer their password: a change or reset
        that landed while the sign-in ran ended every session before it, and the one of the
        old password must not come after it."""
        return await self._start(user, password_hash, ip, user_agent)

    async def _start(self, user: User, password_hash: str | None, ip: str | None,
                     user_agent: str) -> Session | None:
        now = self._clock.now()
        family_id = str(uuid.uuid4())
        refresh, refresh_expires = new_token(), now + self._policy.refresh_ttl
        if not await self._sessions.start(family_id, user.id, describe_device(user_agent),
                                          coarse_ip(ip or ""), now, hash_token(refresh),
                                          refresh_expires, password_hash):
            return None
        return self._issued(user, family_id, refresh, refresh_expires)

    def _issued(self, user: User, family_id: str, refresh: str,
                refresh_expires: datetime) -> Session:
        access, access_expires = self._tokens.issue(user.id, family_id)
        return Session(user, access, access_expires, refresh, refresh_expires, family_id)

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
        user = await self._users.get(record.user_id)
        refresh, refresh_expires = new_token(), now + self._policy.refresh_ttl
        # The session may have been ended since the claim (a logout, a password change):
        # then its revocation came first and no next token is stored.
        if user is None or not await self._sessions.rotate(
                record.family_id, user.id, hash_token(refresh), refresh_expires, now):
            raise AuthenticationError("Invalid refresh token.", code="invalid_refresh_token")
        return self._issued(user, record.family_id, refresh, refresh_expires)

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
        self.revocations.prune(self._revocations_since())

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

    async def end_sessions_before_now(self, user_id: int) -> None:
        """End every session of the account (a password changed or reset), also one started
        this very second: the caller then starts the one of the device that changed it."""
        now = self._clock.now()
        await self._end_user_sessions(user_id, now, now)

    async def end_all_sessions(self, user_id: int) -> None:
        """End every session of the account, also one started this very second: its refresh
        tokens are revoked, its access tokens refused at once and its sockets close
        (ws/session_watch.py). Used by suspension, which refuses the next sign-in."""
        now = self._clock.now()
        # An access token's `iat` is in whole seconds: refusing those issued before the next
        # second refuses one issued in this second too. Nothing is issued meanwhile: the
        # caller has made sign-in refuse the account first.
        until = now.replace(microsecond=0) + timedelta(seconds=1)
        await self._end_user_sessions(user_id, now, until)

    async def _end_user_sessions(self, user_id: int, now: datetime, before: datetime) -> None:
        # Each session is refused by its id, as ending one is: `iat` is in whole seconds, so
        # "issued before `before`" alone spares a token issued earlier in the same second.
        for family_id in await self._refresh.revoke_user(user_id, now):
            self.revocations.sessions[family_id] = now
        await self._users.revoke_access_before(user_id, before)
        self.revocations.users[user_id] = before

    def refuse_deleted(self, user_id: int, at: datetime) -> None:
        """Refuse every token of a deleted account at once."""
        self.revocations.deleted[user_id] = at

    async def purge_expired(self, before: datetime) -> int:
        """Delete refresh tokens that expired and sessions that closed before `before`."""
        self.revocations.prune(self._revocations_since())
        purged = await self._refresh.delete_expired(before)
        return purged + await self._sessions.delete_closed(before)
