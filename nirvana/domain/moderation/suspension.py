"""The sign-in step that refuses a suspended account: one check, kept apart from the
password (and any second factor) so each stays a small step of its own."""

from __future__ import annotations

from ..clock import Clock
from .errors import AccountSuspendedError
from .ports import ModerationStore


class SuspensionGate:
    def __init__(self, store: ModerationStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def check(self, user_id: int) -> None:
        """Raise AccountSuspendedError (with the end date) while a suspension is in force."""
        found = await self._store.suspension(user_id, self._clock.now())
        if found is not None:
            raise AccountSuspendedError(found.until)
