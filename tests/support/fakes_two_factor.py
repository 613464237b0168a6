"""An in-memory two-factor store, with the PostgreSQL adapter's rules: a setup that is on
is never replaced, a step is claimed only if later than every step claimed before, and a
recovery code is spent once, and so is a sign-in challenge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from nirvana.domain.accounts.two_factor import TwoFactorState


@dataclass
class _Row:
    secret: str
    enabled_at: datetime | None = None
    last_step: int | None = None
    codes: dict[bytes, datetime | None] = field(default_factory=dict)


class FakeTwoFactorStore:
    def __init__(self, password_hashes: dict[int, str] | None = None) -> None:
        """`password_hashes`: the users' stored hashes (FakeUsers.hashes), which a setup, a
        disable or new recovery codes require unchanged; with none, any hash is current."""
        self.rows: dict[int, _Row] = {}
        self.used_challenges: dict[str, datetime] = {}  # nonce: expiry
        self._hashes = password_hashes

    def _still_stored(self, user_id: int, password_hash: str) -> bool:
        return self._hashes is None or self._hashes.get(user_id) == password_hash

    async def get(self, user_id: int) -> TwoFactorState | None:
        row = self.rows.get(user_id)
        if row is None:
            return None
        left = sum(1 for used in row.codes.values() if used is None)
        return TwoFactorState(user_id, row.secret, row.enabled_at, left)

    async def begin(self, user_id: int, secret: str, now: datetime, password_hash: str) -> bool:
        if not self._still_stored(user_id, password_hash):
            return False
        row = self.rows.get(user_id)
        if row is None or row.enabled_at is None:
            self.rows[user_id] = _Row(secret)
        return True

    async def enable(self, user_id: int, secret: str, step: int,
                     recovery_hashes: list[bytes], now: datetime) -> bool:
        row = self.rows.get(user_id)
        if row is None or row.secret != secret or row.enabled_at is not None:
            return False
        row.enabled_at, row.last_step = now, step
        row.codes = dict.fromkeys(recovery_hashes)
        return True

    async def disable(self, user_id: int, password_hash: str) -> bool:
        if not self._still_stored(user_id, password_hash):
            return False
        self.rows.pop(user_id, None)
        return True

    async def claim_step(self, user_id: int, step: int) -> bool:
        row = self.rows.get(user_id)
        if row is None or row.enabled_at is None or (
                row.last_step is not None and row.last_step >= step):
            return False
        row.last_step = step
        return True

    async def use_recovery_code(self, user_id: int, code_hash: bytes, now: datetime) -> bool:
        row = self.rows.get(user_id)
        if row is None or code_hash not in row.codes or row.codes[code_hash] is not None:
            return False
        row.codes[code_hash] = now
        return True

    async def replace_recovery_codes(self, user_id: int, hashes: list[bytes],
                                     password_hash: str) -> bool:
        if not self._still_stored(user_id, password_hash):
            return False
        self.rows[user_id].codes = dict.fromkeys(hashes)
        return True

    async def challenge_used(self, nonce: str) -> bool:
        return nonce in self.used_challenges

    async def use_challenge(self, user_id: int, nonce: str, expires_at: datetime) -> bool:
        if nonce in self.used_challenges:
            return False
        self.used_challenges[nonce] = expires_at
        return True

    async def delete_used_challenges(self, before: datetime) -> int:
        gone = [n for n, at in self.used_challenges.items() if at < before]
        for nonce in gone:
            del self.used_challenges[nonce]
        return len(gone)
