"""The background task that builds exports and deletes expired archives (domain/exports/).

Exports wait as rows in PostgreSQL, so one asked for before a restart is built after it.
A request wakes the worker at once; otherwise it looks every `every` seconds. A deleted
account wakes it too: its export rows went with it, and the sweep deletes its archives.
"""

from __future__ import annotations

import asyncio
import logging

from .domain.accounts.deletion import AccountDeleted
from .domain.exports.service import Exports
from .tasks import stop_if_cancelled

log = logging.getLogger("nirvana.exports")


class ExportWorker:
    def __init__(self, every: float = 60.0) -> None:
        self.exports: Exports | None = None  # set by bootstrap: Exports is built with wake()
        self._every = every
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def publish(self, event: AccountDeleted) -> None:
        self.wake()

    async def run(self) -> None:
        assert self.exports is not None
        while True:
            # Cleared before the round, so a request made during it starts the next one.
            self._wake.clear()
            try:
                while await self.exports.build_next() is not None:
                    pass
            except Exception:  # its job went back to pending (or failed for good)
                log.exception("building an export failed; it is tried again later")
                stop_if_cancelled()
            try:
                await self.exports.purge()
            except Exception:
                log.exception("deleting expired export archives failed")
                stop_if_cancelled()
            try:
                async with asyncio.timeout(self._every):
                    await self._wake.wait()
            except TimeoutError:
                pass
