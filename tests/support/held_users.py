"""A user repository whose reads a test holds: a read that runs before a change and is
answered after it (an account's existence read before its deletion elsewhere)."""

from __future__ import annotations

import asyncio
from typing import Any

from nirvana.domain.accounts.users import User
from tests.support.delegating import Delegating


class HeldUserReads(Delegating[None]):
    """`inner` (a UserRepository); while `hold` is set, a read of a user is run, and its
    answer held until `release` is set (`read`: it was run); the first `skip` of those
    reads are answered at once."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner, None)
        self.hold = False
        self.skip = 0
        self.read = asyncio.Event()
        self.release = asyncio.Event()

    async def get(self, user_id: int) -> User | None:
        user = await self._inner.get(user_id)
        if self.hold and self.skip:
            self.skip -= 1
        elif self.hold:
            self.read.set()
            await self.release.wait()
        return user
