"""How an upload that stored no row ends (domain/uploads.py): its file removed, then its
reservation released, in that order, so a crash or a store down between leaves the
reservation naming the file for the sweep (upload_sweep.py)."""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Protocol

from .errors import UnavailableError

log = logging.getLogger("nirvana.media")


class Ends(Protocol):
    """What of Uploads (domain/uploads.py) ending an upload takes: its ledger's reservation
    calls, and `discard` (the file out of whichever store issued it)."""

    async def release(self, url: str) -> bool: ...

    async def give_back(self, url: str) -> bool: ...

    async def keep_named(self, url: str, user_id: int) -> None: ...


Discard = Callable[[str], Awaitable[bool]]


async def abandon(ledger: Ends, discard: Discard, saving: asyncio.Future[str],
                  reserved: str) -> None:
    """A save that failed or was cancelled: once it has ended, what it wrote goes."""
    await asyncio.wait((saving,))
    if not saving.cancelled():
        saving.exception()  # retrieved: the caller raises it, or its own cancellation
    await drop(ledger, discard, reserved, reserved)


async def drop(ledger: Ends, discard: Discard, url: str, reserved: str) -> None:
    """Remove the file of an upload no row holds, then end its reservation: a crash
    between, or a store that does not answer, leaves the reservation to the sweep."""
    if await remove_unrecorded(discard, url):
        await ledger.release(reserved)


async def unless_recorded(ledger: Ends, discard: Discard, url: str, reserved: str) -> None:
    """A failed insert whose answer may have been lost: the file goes only if no row took it."""
    # The bytes first: only then is the file known to be no row's. The reservation keeps
    # naming it until it is removed, so a crash or a store down between leaves it swept.
    if await ledger.give_back(reserved):
        await drop(ledger, discard, url, reserved)


async def swept_late(ledger: Ends, discard: Discard, user_id: int, url: str) -> None:
    """A file saved after the sweep took its reservation: named again by a reservation of
    no bytes before it is removed, so a store that does not answer leaves it to the sweep."""
    await ledger.keep_named(url, user_id)
    await drop(ledger, discard, url, url)


async def remove_unrecorded(discard: Discard, url: str) -> bool:
    """Remove the file at `url`, which no row holds; False when a store did not answer."""
    try:
        if not await discard(url):
            log.warning("upload %s is in no row and in no media store in use; left "
                        "where it is", url)
        return True
    except (UnavailableError, OSError):
        # Kept, not raised: one file the disk will not remove must not stop a sweep.
        log.warning("upload %s is in no row and stays in the store until the sweep", url,
                    exc_info=True)
        return False
