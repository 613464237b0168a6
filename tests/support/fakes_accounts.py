"""In-memory fakes of the domain's ports, for unit tests. They implement the same Protocols
as the PostgreSQL adapters, with the same observable rules (uniqueness, atomic claims)."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Collection
from datetime import datetime, timedelta

from nirvana.domain.errors import ConflictError
from nirvana.domain.accounts.devices import DeviceSession
from nirvana.domain.accounts.ports import AccessClaims, RefreshRecord
from nirvana.domain.accounts.users import Credentials, ProfileChanges, User


class FakeHasher:
    """Reversible 'hashing' with the same interface: unit tests need rules, not argon2."""

    def __init__(self, version: str = "v1") -> None:
        self.version = version
        self.verifications = 0

    async def hash(self, password: str) -> str:
        return f"{self.version}${password}"

    async def verify(self, password_hash: str, password: str) -> bool:
        self.verifications += 1
        return password_hash.split("$", 1)[1] == password

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(f"{self.version}$")


class FakeTokens:
    def __init__(self, clock: FakeClock, ttl: int = 900) -> None:
        self._clock = clock
        self._ttl = ttl
        self._ids = itertools.count(1)

    def issue(self, user_id: int, session_id: str) -> tuple[str, datetime]:
        iat = int(self._clock.now().timestamp())
        token = f"access:{user_id}:{session_id}:{iat}:{next(self._ids)}"
        return token, self._clock.now() + timedelta(seconds=self._ttl)

    def verify(self, token: str) -> AccessClaims:
        from nirvana.domain.errors import AuthenticationError

        parts = token.split(":")
        if len(parts) != 5 or parts[0] != "access":
            raise AuthenticationError(code="invalid_token")
        iat = int(parts[3])
        if iat + self._ttl <= self._clock.now().timestamp():
            raise AuthenticationError(code="token_expired")
        return AccessClaims(int(parts[1]), parts[2], iat, iat + self._ttl, parts[4])


class FakeUsers:
    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self.users: dict[int, User] = {}
        self.hashes: dict[int, str] = {}
        self.revoked_before: dict[int, datetime] = {}
        self.deleted: dict[int, datetime] = {}
        self._ids = itertools.count(1)

    async def create(self, email: str, username: str, name: str, password_hash: str) -> User:
        if any(u.email == email for u in self.users.values()):
            raise ConflictError(code="email_taken")
        if any(u.username.lower() == username.lower() for u in self.users.values()):
            raise ConflictError(code="username_taken")
        now = self._clock.now()
        user = User(next(self._ids), email, username, name, "", None, "", False, "user", now, now)
        self.users[user.id] = user
        self.hashes[user.id] = password_hash
        return user

    async def get(self, user_id: int) -> User | None:
        return self.users.get(user_id)

    async def many(self, user_ids: Collection[int]) -> dict[int, User]:
        return {i: self.users[i] for i in user_ids if i in self.users}

    async def credentials_by_email(self, email: str) -> Credentials | None:
        for user in self.users.values():
            if user.email == email:
                return Credentials(user, self.hashes[user.id])
        return None

    async def credentials(self, user_id: int) -> Credentials | None:
        user = self.users.get(user_id)
        return Credentials(user, self.hashes[user_id]) if user else None

    async def update_profile(self, user_id: int, changes: ProfileChanges) -> User:
        user = self.users[user_id]
        fields = {
            k: v for k, v in dataclasses.asdict(changes).items()
            if v is not None and k != "clear_avatar"
        }
        if changes.clear_avatar:
            fields["avatar_url"] = None
        updated = dataclasses.replace(user, **fields, updated_at=self._clock.now())
        self.users[user_id] = updated
        return updated

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self.hashes[user_id] = password_hash

    async def replace_password_hash(self, user_id: int, old_hash: str, new_hash: str) -> bool:
        if self.hashes.get(user_id) != old_hash:
            return False
        self.hashes[user_id] = new_hash
        return True

    async def revoke_access_before(self, user_id: int, when: datetime) -> None:
        self.revoked_before[user_id] = when

    async def recent_access_revocations(self, since: datetime) -> dict[int, datetime]:
        return {k: v for k, v in self.revoked_before.items() if v >= since}

    async def change_email(self, user_id: int, email: str, password_hash: str) -> User | None:
        if self.hashes.get(user_id) != password_hash:
            return None
        if any(u.email == email for u in self.users.values() if u.id != user_id):
            raise ConflictError(code="email_taken")
        user = dataclasses.replace(self.users[user_id], email=email, email_verified=False)
        self.users[user_id] = user
        return user

    async def mark_email_verified(self, user_id: int, email: str) -> User | None:
        user = self.users.get(user_id)
        if user is None or user.email != email:
            return None
        self.users[user_id] = dataclasses.replace(user, email_verified=True)
        return self.users[user_id]

    async def delete(self, user_id: int, at: datetime, password_hash: str) -> bool:
        if self.hashes.get(user_id) != password_hash:
            return False
        self.users.pop(user_id, None)
        self.hashes.pop(user_id, None)
        self.revoked_before.pop(user_id, None)
        self.deleted[user_id] = at
        return True

    async def recently_deleted(self, since: datetime) -> dict[int, datetime]:
        return {k: v for k, v in self.deleted.items() if v >= since}


class FakeRefreshTokens:
    def __init__(self) -> None:
        self.rows: dict[bytes, RefreshRecord] = {}

    async def add(self, user_id: int, family_id: str, token_hash: bytes, expires_at: datetime):
        self.rows[token_hash] = RefreshRecord(user_id, family_id, expires_at, None, None)

    async def claim(self, token_hash: bytes, now: datetime) -> RefreshRecord | None:
        row = self.rows.get(token_hash)
        if row is None or row.used_at or row.revoked_at or row.expires_at <= now:
            return None
        self.rows[token_hash] = dataclasses.replace(row, used_at=now)
        return self.rows[token_hash]

    async def find(self, token_hash: bytes) -> RefreshRecord | None:
        return self.rows.get(token_hash)

    async def revoke_family(self, family_id: str, now: datetime) -> None:
        for key, row in self.rows.items():
            if row.family_id == family_id and row.revoked_at is None:
                self.rows[key] = dataclasses.replace(row, revoked_at=now)

    async def revoke_user(self, user_id: int, now: datetime) -> set[str]:
        families = set()
        for key, row in self.rows.items():
            if row.user_id == user_id and row.revoked_at is None:
                self.rows[key] = dataclasses.replace(row, revoked_at=now)
                families.add(row.family_id)
        return families

    async def recently_revoked_families(self, since: datetime) -> dict[str, datetime]:
        return {r.family_id: r.revoked_at for r in self.rows.values()
                if r.revoked_at and r.revoked_at >= since}

    async def delete_expired(self, before: datetime) -> int:
        gone = [k for k, r in self.rows.items() if r.expires_at < before]
        for key in gone:
            del self.rows[key]
        return len(gone)


class FakeSessions:
    """Sessions read whether they are open from the refresh tokens, as PostgreSQL does."""

    def __init__(self, refresh: FakeRefreshTokens, users: FakeUsers) -> None:
        self._refresh = refresh
        self._users = users
        self.rows: dict[str, tuple[int, DeviceSession]] = {}

    async def start(self, session_id: str, user_id: int, device: str, ip: str, now: datetime,
                    token_hash: bytes, expires_at: datetime,
                    password_hash: str | None = None) -> bool:
        if password_hash is not None and self._users.hashes.get(user_id) != password_hash:
            return False
        self.rows[session_id] = (user_id, DeviceSession(session_id, device, ip, now, now))
        await self._refresh.add(user_id, session_id, token_hash, expires_at)
        return True

    async def rotate(self, session_id: str, user_id: int, token_hash: bytes,
                     expires_at: datetime, now: datetime) -> bool:
        if session_id not in self.rows or any(
                r.family_id == session_id and r.revoked_at for r in self._refresh.rows.values()):
            return False
        owner, row = self.rows[session_id]
        self.rows[session_id] = (owner, dataclasses.replace(row, last_used_at=now))
        await self._refresh.add(user_id, session_id, token_hash, expires_at)
        return True

    def _is_open(self, session_id: str, now: datetime) -> bool:
        return any(r.family_id == session_id and r.used_at is None and r.revoked_at is None
                   and r.expires_at > now for r in self._refresh.rows.values())

    async def open_sessions(self, user_id: int, now: datetime) -> list[DeviceSession]:
        found = [row for owner, row in self.rows.values()
                 if owner == user_id and self._is_open(row.id, now)]
        return sorted(found, key=lambda row: row.last_used_at, reverse=True)

    async def delete_closed(self, before: datetime) -> int:
        families = {r.family_id for r in self._refresh.rows.values()}
        gone = [k for k, (_, row) in self.rows.items()
                if k not in families and row.created_at < before]
        for key in gone:
            del self.rows[key]
        return len(gone)


class FakeSigner:
    """Signs by prefixing a secret: as unforgeable as HMAC for tests that never see it."""

    def sign(self, message: str) -> str:
        return f"mac:{len(message)}:{hash(message) & 0xFFFFFFFF:x}"

    def matches(self, message: str, mac: str) -> bool:
        return self.sign(message) == mac


class FakeResets:
    def __init__(self) -> None:
        self.rows: dict[bytes, list] = {}  # hash -> [user_id, expires_at, used]

    async def replace(self, user_id: int, token_hash: bytes, expires_at: datetime) -> None:
        for row in self.rows.values():
            if row[0] == user_id:
                row[2] = True
        self.rows[token_hash] = [user_id, expires_at, False]

    async def consume(self, token_hash: bytes, now: datetime) -> int | None:
        row = self.rows.get(token_hash)
        if row is None or row[2] or row[1] <= now:
            return None
        row[2] = True
        return row[0]

    async def delete_expired(self, before: datetime) -> int:
        gone = [k for k, r in self.rows.items() if r[1] < before]
        for key in gone:
            del self.rows[key]
        return len(gone)


class FakeMailer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str]] = []

    async def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, subject, body))


class FlakyEraser:
    """A ContentEraser whose store is down for its next `failures` tries."""

    def __init__(self, failures: int = 1_000_000) -> None:
        self.failures = failures
        self.tries = 0
        self.erased: list[int] = []

    async def erase(self, user_id: int) -> None:
        self.tries += 1
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("chat store down")
        self.erased.append(user_id)


class FakeDeletedAccounts:
    """The tombstones awaiting erasure (PgDeletedAccounts)."""

    def __init__(self, pending: list[int]) -> None:
        self.pending = pending

    async def awaiting_erasure(self) -> list[int]:
        return list(self.pending)

    async def mark_erased(self, user_id: int, at: datetime) -> None:
        self.pending.remove(user_id)
