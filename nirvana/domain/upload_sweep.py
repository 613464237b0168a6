"""The sweep of uploads cut off by a crash: a reservation is a pending row naming its file
(domain/uploads.py), which the upload's row or a failed upload's release ends; a kill -9 in
between leaves it. Once no request can still be at work on it, its file is removed and its
bytes given back, by whichever instance gets to it first."""

from __future__ import annotations

import logging

from .uploads import Uploads

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
