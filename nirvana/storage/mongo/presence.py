"""MongoDB adapter of `PresenceStore`: one small document per user with their last_seen.

Writes are buffered and written together, once per `interval` (1 s), in one bulk write with
one commit (one_commit.py). Why: every first connect and last disconnect of a user saves
last_seen, and a storm of them (a server restart, a network blip) sent one upsert per user to
a store that does only so many a second, starving chat writes and making new sockets fail
with 1013 (docs/performance.md). Reads apply the buffer, so they see every
save at once; a clean stop writes it (`close`), and a crash loses at most the last second of
last_seen updates.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Iterable

from beanie import Document
from pymongo import UpdateOne
from pymongo.errors import OperationFailure

from ...tasks import cancel_and_wait
from .fence import aborted
from .one_commit import OneCommit

log = logging.getLogger("nirvana.presence")
# Aborted flushes in a row that stay an info line (about 5 s at one flush a second): past
# them, one warning, then one every WARN_EVERY more while they last. A transaction left open
# by an instance killed or paused inside its flush holds those users' documents (up to
# MongoDB's transactionLifetimeLimitSeconds; the embedded store never ends it), and every
# flush touching them is aborted, so none of this instance's last_seen lands meanwhile.
ABORTS_BEFORE_WARNING = 5
WARN_EVERY = 60


class PresenceDoc(Document):
    id: int  # type: ignore[assignment]  # the PostgreSQL user id
    last_seen: datetime

    class Settings:
        name = "chat_presence"


DOCUMENTS = [PresenceDoc]


class MongoPresenceStore:
    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._pending: dict[int, datetime] = {}
        self._flushing: dict[int, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._aborts_in_a_row = 0
        self.one_commit = OneCommit()

    @property
    def _coll(self):
        return PresenceDoc.get_pymongo_collection()

    async def save_last_seen(self, user_id: int, at: datetime) -> None:
        _keep_latest(self._pending, user_id, at)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._flush_later(),
                                                                name="presence-writes")

    async def last_seen(self, user_ids: Iterable[int]) -> dict[int, datetime]:
        ids = list(user_ids)
        found = {d["_id"]: d["last_seen"]
                 async for d in self._coll.find({"_id": {"$in": ids}})}
        for buffer in (self._flushing, self._pending):
            for user_id in ids:
                if user_id in buffer:
                    _keep_latest(found, user_id, buffer[user_id])
        return found

    async def _flush_later(self) -> None:
        while self._pending:
            await asyncio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        """Write what is buffered; on failure it stays buffered for the next flush."""
        async with self._lock:
            batch, self._pending = self._pending, {}
            if not batch:
                return
            self._flushing = batch
            try:
                await self.one_commit.write([(self._coll, [
                    UpdateOne({"_id": u}, {"$max": {"last_seen": t}}, upsert=True)
                    for u, t in batch.items()])])
                if self._aborts_in_a_row >= ABORTS_BEFORE_WARNING:
                    log.info("presence write of %d users landed after %d aborted flushes",
                             len(batch), self._aborts_in_a_row)
                self._aborts_in_a_row = 0
            except Exception as exc:
                was_aborted = isinstance(exc, OperationFailure) and aborted(exc)
                self._aborts_in_a_row = self._aborts_in_a_row + 1 if was_aborted else 0
                times = self._aborts_in_a_row
                if times >= ABORTS_BEFORE_WARNING:
                    if (times - ABORTS_BEFORE_WARNING) % WARN_EVERY == 0:
                        log.warning("presence write of %d users aborted %d times in a row "
                                    "(%s): a transaction left open by a killed or paused "
                                    "instance may hold them; none is written until it ends",
                                    len(batch), times, _why(exc))
                elif was_aborted:
                    # Expected with several instances: another one wrote last_seen of some
                    # of these users in the same moment (a user with sockets on both; the
                    # store answers WriteConflict), or a takeover ended the sessions. `$max`
                    # makes the next flush right whichever write came first.
                    log.info("presence write of %d users aborted by the store (%s): another "
                             "instance wrote some of them at once, or a takeover ended the "
                             "sessions; written at the next flush", len(batch), _why(exc))
                else:
                    log.warning("presence write of %d users failed (%s); tried again at the "
                                "next flush", len(batch), _why(exc))
                for user_id, at in batch.items():
                    _keep_latest(self._pending, user_id, at)
            finally:
                self._flushing = {}

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        await self.flush()


def _why(exc: Exception) -> str:
    if isinstance(exc, OperationFailure):
        message = (exc.details or {}).get("errmsg") or str(exc)
        return f"{type(exc).__name__} code {exc.code}: {message[:200]}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _keep_latest(into: dict[int, datetime], user_id: int, at: datetime) -> None:
    held = into.get(user_id)
    if held is None or at > held:
        into[user_id] = at
