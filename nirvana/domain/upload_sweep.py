"""The sweep of uploads cut off by a crash: a reservation is a pending row naming its file
(domain/uploads.py), which the upload's row or a failed upload's release ends; a kill -9 in
between leaves it. Once no request can still be at work on it, its file is removed and its
bytes given back, by whichever instance gets to it first.

Sooner, when the process that made it is known gone, its bytes alone are given back: the
row stays, of no bytes, naming the file for the sweep. Nothing then depends on that knowledge
being right: an upload of a process deemed gone that was only paused finds no bytes under
its reservation when it wakes, stores no row and removes its file (Uploads.upload_once,
ReservationSweptError), as one that outlived the bound does.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Callable, Collection, Protocol

from .uploads import Pending, Uploads

log = logging.getLogger("nirvana.media")

# Seconds after which a reservation with no upload row is a crash's leftover (PENDING_BOUND)
# and swept. An upload request reserves after its body is read, so what is left is the
# store's save and the ledger's insert: seconds on disk, on Cloudinary the largest video at a
# slow link (its timeout bounds each socket operation, not the whole), and a stop gives
# running requests 10 s (serving.py). An hour is far past all of them; the sweep runs every
# SWEEP_EVERY seconds, so a crash's bytes come back within about 70 minutes.
PENDING_BOUND = 3600.0
SWEEP_EVERY = 600.0


async def sweep(uploads: Uploads, older_than: float = PENDING_BOUND, batch: int = 100) -> int:
    """Remove the files of reservations older than `older_than` seconds that became no
    upload, and give their bytes back, in batches; how many. Safe on every instance at once:
    each batch holds its rows (FOR UPDATE SKIP LOCKED) until its files are gone."""
    total = 0
    while True:
        looked, swept = await uploads.ledger.sweep(older_than, batch,
                                                   uploads.remove_unrecorded)
        for pending in swept:
            log.info("swept upload %s of user %s left by a cut-off request: %s bytes given "
                     "back", pending.url, pending.user_id, pending.size)
        total += len(swept)
        if looked < batch or len(swept) < looked:
            return total  # all done, or a store refused: the rest wait for SWEEP_EVERY


# How long an instance's live key must stay missing (GONE_GRACE, seconds) before the bytes
# it reserved are given back, over a few of its TTLs (ws/cluster.py): a Redis restart or an
# instance's short pause must not cost its uploads under way. Looked at every GONE_EVERY.
GONE_GRACE = 30.0
GONE_EVERY = 10.0


class Reservers(Protocol):
    """What of the ledger giving back a gone process's bytes takes (PgUploadLedger)."""

    async def reservers(self) -> set[str | None]:
        """The processes that made the reservations still counted (None: made by one that
        gave no name, before schema step 0029)."""
        ...

    async def give_back_of(self, gone: Collection[str | None], older_than: float,
                           limit: int, before: datetime | None = None) -> list[Pending]:
        """Up to `limit` reservations older than `older_than` seconds (and made `before`,
        by the database's clock) that `gone` made and no other pass holds: their bytes
        given back, their rows kept, of no bytes, naming their files."""
        ...


class LiveInstances(Protocol):
    async def live(self) -> set[str] | None:
        """The instances whose live key is there now; None when Redis did not answer."""
        ...


async def give_back_of(ledger: Reservers, gone: Collection[str | None],
                       older_than: float = 0.0, before: datetime | None = None,
                       batch: int = 100) -> int:
    """Give back the bytes of the reservations `gone` made, in batches; how many."""
    if not gone:
        return 0
    total = 0
    while True:
        kept = await ledger.give_back_of(gone, older_than, batch, before)
        for pending in kept:
            log.info("gave back %s bytes of user %s reserved for %s by a process that is "
                     "gone; the file goes with the sweep", pending.size, pending.user_id,
                     pending.url)
        total += len(kept)
        if len(kept) < batch:
            return total


async def give_back_of_others(ledger: Reservers, own: str, taken_at: datetime) -> int:
    """One process on the databases, which took the 'instance' lease (instance_guard.py) as
    `own` at `taken_at` (the database's clock): every reservation made before by another
    process is of one that stopped, or that lost the lease while paused. None made after: this
    pass may run late, in a process that was itself paused and replaced meanwhile."""
    return await give_back_of(ledger, await ledger.reservers() - {own}, before=taken_at)


class GoneInstances:
    """Several instances on Redis: the bytes reserved by an instance whose live key has been
    missing for `grace` seconds, as seen by this one's passes, are given back. While Redis
    does not answer, or this instance's own key is missing too, nothing is, and what was seen
    missing is forgotten."""

    def __init__(self, ledger: Reservers, instances: LiveInstances, own: str,
                 grace: float = GONE_GRACE, clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self._ledger = ledger
        self._instances = instances
        self._own = own
        self._grace = grace
        self._clock = clock
        self._missing_since: dict[str, float] = {}

    async def give_back(self) -> int:
        """One pass; how many reservations' bytes it gave back."""
        live = await self._instances.live()
        # Our own key missing: Redis answers reads but drops the heartbeats' writes (MISCONF,
        # OOM, a read-only replica) or evicts the keys, so every key lapses and says nothing.
        if live is None or self._own not in live:
            self._missing_since.clear()
            return 0
        missing = {r for r in await self._ledger.reservers()
                   if r is not None and r not in live and r != self._own}
        now = self._clock()
        self._missing_since = {r: self._missing_since.get(r, now) for r in missing}
        gone = [r for r, since in self._missing_since.items() if now - since >= self._grace]
        # Only rows older than the grace: one made by an instance that had yet to write its
        # key is not taken for the leftover of one that is gone.
        return await give_back_of(self._ledger, gone, self._grace)
