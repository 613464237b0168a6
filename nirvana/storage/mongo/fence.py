"""The store's own fence against a deposed chat writer (several instances).

Each chat writer stamps every message and stream event it inserts with the epoch of its
`chat-writer` lease (`epoch`), and on taking the lease, before it reads or writes anything
else, sets a validator on those collections that refuses an insert stamped with an older
epoch. A writer paused past its lease whose insert leaves the process after the next
writer took over is then refused by the store (code 121), however the pause fell: the next
writer loads positions and seqs only once its fence is up, so an insert it does not see is
refused (save one the embedded store began before the fence and was slow to bring to its
lock, or a chunk of a big insert split around it).

Updates and deletes (a change, a take-back, a summary flush) pass no validator, so they
run in one transaction whose first write checks a token in chat_meta against the epoch
(`writes`): they land only if it is not above this writer's, and the next writer's raise
writes that token too, so it waits for such a transaction still open and a later one is
refused. A writer killed inside one leaves it open, and the embedded store never ends it:
after TAKEOVER_WAIT the raise ends the embedded store's sessions' transactions
(`killAllSessions`, of the user it connects as). On MongoDB it keeps waiting: MongoDB
aborts a transaction 60 s after it began (`transactionLifetimeLimitSeconds`). A
transaction the store aborts (a write conflict, a failover, those ended sessions) is tried
up to ATTEMPTS times in all (a change reads and plans again for each try: `retried`): a
deposed writer's next check is refused, a live writer's write lands. A receipt's mark is
not in a transaction: a mark only rises and is true when written, so a deposed writer's
late one is harmless, and receipts, the most frequent write, stay off the transaction's
cost; only their event is fenced (an insert). A server without transactions (a standalone
mongod) writes updates unfenced, as before.
docs/cluster-chat.md ("The fence the store enforces") says why this shape and what
is left.

One process (no REDIS_URL) stamps nothing, and the validator lets unstamped documents
through: only such a process writes them, and it never runs beside instances
(instance_guard.py). A database that never had instances has no validator at all. Its
updates and deletes run in a transaction too, without the check (`writes`), so that a
change lands whole there as well.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Awaitable, Callable, TypeVar

from pymongo import WriteConcern
from pymongo.read_concern import ReadConcern
from pymongo.errors import BulkWriteError, OperationFailure, WriteError

from ...domain.errors import UnavailableError
from .collections import ChatCollections
from .one_commit import OneCommit

log = logging.getLogger("nirvana.chat.store")
T = TypeVar("T")

FIELD = "epoch"
FENCED_OUT = 121  # DocumentValidationFailure: the insert carried an older writer's epoch
_NO_COLLECTION = 26
_WRITE_CONFLICT = 112
_NO_SUCH_TRANSACTION = 251  # its transaction was ended (killAllSessions) before this
_INTERRUPTED = 11601  # MongoDB: a statement running when its session was killed
# collMod errors that mean this deployment cannot fence at all, whenever it is asked: a
# user without the collMod action (13), a server without the command (115), a hosted
# tier that refuses it (Atlas, 8000). The writer then stamps nothing and relies on its
# lease check alone (docs/cluster-chat.md). Any other error (a timeout, a lost
# connection) fails the lead: the role releases the lease and tries again.
_CANNOT_FENCE = {13: "Unauthorized", 115: "CommandNotSupported", 8000: "AtlasError"}
BARRIER = "writer-fence-barrier"  # an _id no document has: the delete only waits its turn
TOKEN = "writer-fence"  # chat_meta: the epoch the fence stands at, for transactions
# How long the embedded store is given to bring an insert it began before the fence to
# its collection's lock (see `raise_to`).
SETTLE = 0.2
# How long a takeover waits for a transaction holding the token before it ends every
# session's (`_write_token`): the fence's transactions are a few statements, so one still
# open after a second is a writer killed or paused inside it, or a store too slow to write.
TAKEOVER_WAIT = 1.0
_UNAUTHORIZED = 13
_NOT_A_REPLICA_SET = 123
_LINEARIZABLE = ReadConcern("linearizable")
# How many times in all `writes` tries a transaction the store aborts (a write conflict, a
# failover, ended sessions), and the backoff before a retry (`backoff`). Bounded
# by count, not by the 120 s of pymongo's `with_transaction`: a change's caller waits for
# the one writer task (docs/cluster-chat.md says why not `with_transaction`).
ATTEMPTS = 3
RETRY_BACKOFF = 0.005


def validator(epoch: int) -> dict[str, Any]:
    """A document stamped below `epoch` fails it; an unstamped one passes. As a JSON
    schema: the embedded store checks it in half the time of the same query
    (docs/performance.md, "Fencing a deposed chat writer")."""
    return {"$jsonSchema": {"properties": {FIELD: {"minimum": epoch}}}}


def is_fenced_out(error: dict[str, Any]) -> bool:
    """A write error of a document the fence refused."""
    return error.get("code") == FENCED_OUT


def aborted(exc: OperationFailure) -> bool:
    """Whether the store says it ended the transaction `exc` came from uncommitted: ended
    by `killAllSessions` (a statement or the commit of it answers NoSuchTransaction; on
    MongoDB one running then, Interrupted), or any error labelled transient (a write
    conflict). Not when the commit's outcome is unknown: then it may have landed."""
    if exc.has_error_label("UnknownTransactionCommitResult"):
        return False
    return (exc.code in (_WRITE_CONFLICT, _NO_SUCH_TRANSACTION, _INTERRUPTED)
            or exc.has_error_label("TransientTransactionError"))


class FencedOutError(UnavailableError):
    """This process may not write: the store refused an insert stamped with `stamped` (a
    later epoch's writer raised the fence), or, with `stamped` None, its own lease check
    failed before anything was sent. Either way nothing of the write is in doubt."""

    def __init__(self, stamped: int | None = None) -> None:
        super().__init__("This instance is no longer the chat writer; retry.")
        self.stamped = stamped


class Aborted(FencedOutError):
    """The store aborted a fenced transaction (a write conflict, a failover, a takeover's
    ended sessions) as many times as the caller let `writes` try it: nothing of it landed.
    Not a refusal of this epoch (no `stamped`), so a caller that does not try again still
    answers "retry"; one whose work must not be rerun blind (it planned from what it read
    before the transaction) reads and plans again (`retried`). Its own text, the same
    code ("unavailable": retry the same command)."""

    def __init__(self) -> None:
        UnavailableError.__init__(self, "The store aborted the write; retry.")
        self.stamped = None


class StaleReadError(UnavailableError):
    """A change's first write found its message changed since the read it planned from
    (changes.py `_write_as_read`: an erasure tombstoned it), so wrote nothing: an erasure
    that committed before the change's transaction began meets no conflict. Read and
    planned again by `retried`; after ATTEMPTS, "unavailable": retry the same command."""

    def __init__(self) -> None:
        super().__init__("The message changed while the change was made; retry.")


async def backoff(attempt: int) -> None:
    """The wait before try `attempt + 1`: jittered, as pymongo's `with_transaction`'s, so
    two retrying writers do not meet again: 0-10 ms, then 0-20 ms."""
    await asyncio.sleep(random.uniform(0, RETRY_BACKOFF * 2 ** attempt))


async def retried(attempt: Callable[[], Awaitable[T]]) -> T:
    """`attempt()` tried up to ATTEMPTS times while it raises Aborted or StaleReadError:
    for work that reads, plans, then writes through `writes(..., attempts=1)`, so each try
    plans from what is stored then (a change rerun blind could put back what an erasure
    removed since)."""
    tried = 1
    while True:
        try:
            return await attempt()
        except (Aborted, StaleReadError):
            if tried == ATTEMPTS:
                raise
        await backoff(tried)
        tried += 1


class WriterFence:
    """This process's epoch as the chat writer (None: one process, nothing stamped)."""

    def __init__(self, command: Callable[[Any, dict[str, Any]], Awaitable[Any]] | None = None,
                 transactions: OneCommit | None = None) -> None:
        """`command(database, command)` runs a collMod, `buildInfo` or `killAllSessions`
        (default: the database's own `command`); tests pass one that fails or answers as
        MongoDB. `transactions` runs `writes`' transactions and learns whether the server
        has them (tests pass one told it has none, as a standalone mongod)."""
        self.epoch: int | None = None
        # The epoch this process last wrote the token at (`raise_to`), kept where the
        # deployment cannot fence (`epoch` None): the token still says who raised last.
        self.raised: int | None = None
        # False once the server answered NotAReplicaSet (`stands_at`): a standalone stays
        # one, and asking again would cost a deposed batch a round trip per chunk.
        self._linearizable = True
        self._command = command or (lambda database, cmd: database.command(cmd))
        self.transactions = transactions or OneCommit()
        self._one_at_a_time = asyncio.Lock()

    def stamp(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self.epoch is not None:
            doc[FIELD] = self.epoch
        return doc

    async def stands_at(self, meta: Any, epoch: int) -> bool:
        """Whether the fence's token (in `meta`) still stands at `epoch`: false once a later
        raise wrote it, before that writer read or wrote anything else (`raise_to`).
        Linearizable: on a replica set, an old primary not yet stepped down would answer
        the token from before a raise on the new one. A standalone server refuses that
        level (NotAReplicaSet), and there the one server's answer is current (remembered:
        asked plainly from then on). Any other refusal raises: the caller counts it as
        taken over (NotWritablePrimary on a deposed primary must)."""
        query, fields = {"_id": TOKEN}, {FIELD: 1}
        found = None
        if self._linearizable:
            try:
                found = await meta.with_options(read_concern=_LINEARIZABLE).find_one(
                    query, projection=fields)
            except OperationFailure as exc:
                if exc.code != _NOT_A_REPLICA_SET:
                    raise
                self._linearizable = False
        if not self._linearizable:
            found = await meta.find_one(query, projection=fields)
        return found is not None and found.get(FIELD) == epoch

    async def insert_one(self, coll: Any, doc: dict[str, Any], session: Any = None) -> None:
        """Insert `doc` stamped; a refusal by the fence raises FencedOutError. Only an
        insert's refusal means that: an update's 121 is some other validator's."""
        stamped = self.epoch
        try:
            await coll.insert_one(self.stamp(doc), session=session)
        except WriteError as exc:
            if is_fenced_out(exc.details or {}):
                raise FencedOutError(stamped) from None
            raise

    async def insert_many(self, coll: Any, docs: list[dict[str, Any]]) -> None:
        """Insert `docs` stamped, in one unordered insert (one document: `insert_one`); a
        refusal of any by the fence raises FencedOutError. The embedded store refuses a
        fenced insert whole; on MongoDB an insert that straddles the fence's raise may land
        some documents all the same, which the next writer loads (as a batch of messages':
        sends.py `_insert`). Any other write error is raised as it is, and some documents
        may have landed: the caller must treat them as maybe stored."""
        if len(docs) == 1:
            await self.insert_one(coll, docs[0])
            return
        stamped = self.epoch
        try:
            await coll.insert_many([self.stamp(d) for d in docs], ordered=False)
        except BulkWriteError as exc:
            if any(is_fenced_out(e) for e in exc.details.get("writeErrors", [])):
                raise FencedOutError(stamped) from None
            raise

    async def writes(self, db: ChatCollections, work: Callable[[Any], Awaitable[T]], *,
                     attempts: int = ATTEMPTS) -> T:
        """`work(session)`, whose writes (updates and deletes too) land only while the fence
        lets this epoch write: with instances, all in one transaction that first checks
        the fence's token (`_check`), so a refusal undoes them and raises FencedOutError.
        `work` passes `session` to each write, and its inserts of events go through
        `insert_one`. A transaction the store aborted is tried again, up to `attempts`
        times in all, then raises Aborted: `work` may run again, so its writes must be
        right whatever was committed meanwhile, and what it does outside the store must
        bear being done twice (a change's event takes a new position, and the first is
        skipped: positions.py). Work planned from reads made before (a change) passes
        `attempts=1` and plans again on Aborted (`retried`); a summary flush (its writes
        built once, from its buffer: summaries.py) and a take-back (deletes by id and
        position: sends.py) write the same on a rerun, so they are tried here.

        Instances that cannot fence (`raised`, `epoch` None) take the same turns without the
        check, so that `drained` covers their writes too. One process (nothing stamped,
        never raised) runs `work` in a transaction too, without the check and without
        waiting for this process's others (they share no token, and it never leads again,
        so nothing drains): a change's writes then land whole or not at all, also when the
        store fails or the process dies between them, and a transaction the store aborts (a
        write conflict with an erasure's first phase) is handled as with instances. A server
        without transactions (a standalone mongod) runs `work(None)`: its writes one by one,
        unfenced (docs/cluster-chat.md)."""
        stamped = self.epoch
        if stamped is None and self.raised is None:
            return await self._tried(db, work, attempts)

        async def fenced(session: Any) -> T:
            if session is not None and stamped is not None:
                await self._check(db.meta, stamped, session)
            return await work(session)
        # One at a time: each transaction writes the token first, so two of this process's
        # at once (a change and a summary flush) would abort one another. Also where the
        # deployment cannot fence (`raised` without `epoch`): `drained` waits for the turns.
        async with self._one_at_a_time:
            return await self._tried(db, fenced, attempts)

    async def _tried(self, db: ChatCollections, work: Callable[[Any], Awaitable[T]],
                     attempts: int) -> T:
        """`work` in one transaction (OneCommit), run again while the store aborts it, up
        to `attempts` times in all, then Aborted."""
        attempt = 1
        while True:
            try:
                return await self.transactions.run(db.meta.database.client, work)
            except OperationFailure as exc:
                if not aborted(exc):
                    raise
                if attempt == attempts:
                    # Nothing of it landed, and the sender may retry. Not taken as a
                    # refusal of this epoch (that would stop a writer that may still
                    # lead): the next write's check says whether it is one.
                    raise Aborted() from None
            # Aborted by the store, nothing of it landed: a write conflict (with an
            # erasure, a raise of the fence), a failover, or a takeover's
            # `_end_transactions`. Run again: a fenced check is refused if this epoch is
            # deposed (a refusal is FencedOutError, never retried), and otherwise the
            # write lands as if the conflict had not been.
            await backoff(attempt)
            attempt += 1

    async def drained(self) -> None:
        """Returns once every `writes` of this process holding or awaiting its turn now has
        ended, committed or not: with instances each takes a turn, fenced or (where the
        deployment cannot fence) not. A later tenure's `recover` waits for them before it
        reads (summaries.py): an earlier tenure's take-back passes a fence raised again at
        the epoch it held, and any take-back passes where there is no fence."""
        async with self._one_at_a_time:
            pass

    async def _check(self, meta: Any, stamped: int, session: Any) -> None:
        """The fence's check of a transaction, its first write: the token's epoch must not
        be above ours. A write (a count), not a read: `raise_to` writes the token too, so
        it waits for a transaction that wrote it first, and a transaction that writes it
        after a raise it began before meets a write conflict."""
        # A write conflict here (a raise wrote the token since this transaction began)
        # aborts it like any other: `writes` runs it again, and that check is refused if a
        # later epoch's raise it was.
        done = await meta.update_one({"_id": TOKEN, FIELD: {"$lte": stamped}},
                                     {"$inc": {"transactions": 1}}, session=session)
        if done.matched_count == 0:
            raise FencedOutError(stamped)

    async def raise_to(self, db: ChatCollections, epoch: int) -> None:
        """Refuse, from now on, every insert stamped below `epoch`; stamp ours with it.

        Set whatever the fence stood at: the lease is the authority (a PostgreSQL whose
        lease table started over must not lock its writer out), and a writer deposed
        before its own `raise_to` answered only lowers it to an epoch whose holder, past
        its lease by then, commits nothing more (chat_writer_role.py)."""
        # The token first (`writes`' transactions check it): it waits for a transaction
        # still open that checked the old one (committed, its writes are in what the next
        # load reads; the embedded store does not make a collMod wait for it, as it keeps
        # the validator its snapshot saw), and one that checks it later meets a conflict
        # or this epoch. Before the collMods: on MongoDB a collMod waits for the
        # collection's exclusive lock, which a dead writer's open transaction would hold
        # until MongoDB ends it, and `_write_token` is what ends it sooner.
        await self._write_token(db.meta, epoch)
        self.raised = epoch
        fenced = (db.messages, db.events)
        # Majority: a fence only the old primary had would be rolled back by a failover.
        concern = {"w": "majority"}
        for coll in fenced:
            command = {"collMod": coll.name, "validator": validator(epoch),
                       "validationLevel": "moderate", "writeConcern": concern}
            try:
                try:
                    await self._command(coll.database, command)
                except OperationFailure as exc:
                    if exc.code != _NO_COLLECTION:
                        raise
                    await coll.database.create_collection(coll.name)
                    await self._command(coll.database, command)
            except OperationFailure as exc:
                if exc.code not in _CANNOT_FENCE:
                    raise
                # Unstamped documents pass any validator, also a higher one an earlier
                # writer left: stamping our (maybe lower) epoch would refuse every insert.
                self.epoch = None
                log.warning("cannot fence %s against a deposed chat writer (%s): the "
                            "writer's lease check is the only fence (docs/cluster-chat.md)",
                            coll.name, _CANNOT_FENCE[exc.code])
                return
        self.epoch = epoch
        # MongoDB changes a validator under the collection's exclusive lock, so an insert
        # is checked either before (and is stored, and loaded next) or after. The embedded
        # store reads the validator when an insert command starts and writes under the
        # collection's lock later: an insert it began before the fence may still land. A
        # delete (of nothing) takes that lock, so it waits for such an insert; done again
        # SETTLE later, also for one the store was slow to bring to the lock.
        for wait in (0.0, SETTLE):
            await asyncio.sleep(wait)
            for coll in fenced:
                await coll.delete_one({"_id": BARRIER})

    async def _write_token(self, meta: Any, epoch: int) -> None:
        """Set the token to `epoch`, waiting TAKEOVER_WAIT for a transaction that wrote it
        first, then, on the embedded store, ending every session's transaction
        (`_end_transactions`): a writer killed inside one (kill -9) leaves it open, and
        the embedded store never ends it, so without this no later writer could ever take
        over. The write is still bounded by the store timeout, like every store call: a
        raise that fails fails the lead, and the role gives the lease back and tries
        again."""
        def token() -> Awaitable[Any]:
            return meta.with_options(write_concern=WriteConcern(w="majority")).update_one(
                {"_id": TOKEN}, {"$set": {FIELD: epoch}}, upsert=True)
        write = asyncio.ensure_future(token())
        try:
            done, _ = await asyncio.wait({write}, timeout=TAKEOVER_WAIT)
            if done:
                await write
                return
            await self._end_transactions(meta.database.client, epoch)
            try:
                await write
            except OperationFailure:
                # A store that interrupts running operations with the sessions ends our
                # waiting write too (the embedded store lets it finish). Written again,
                # with the transaction it waited for ended, it does not wait.
                await token()
        finally:
            write.cancel()

    async def _end_transactions(self, client: Any, epoch: int) -> None:
        """On the embedded store, `killAllSessions` of the user this process connects as
        (every user on one without authentication): it aborts the open transaction the
        token waits for. Every instance connects as that user, so their transactions open
        at this moment (presence and summary flushes, a deposed writer's fenced writes)
        fail once and are not committed: each is retried or refused (docs/cluster-chat.md,
        "The fence the store enforces"). Not on MongoDB, which ends a transaction 60 s
        after it began by itself, and where a kill would also interrupt every running
        operation of that user (an erasure's `update_many` half done, another
        application's sessions on a server without authentication)."""
        build = await self._command(client.admin, {"buildInfo": 1})
        if "secantusVersion" not in build:
            log.warning("the chat writer fence's token waited %.0f s for another client's "
                        "transaction (a writer killed or paused inside one?): waiting for "
                        "MongoDB to end it (60 s after it began) to take over at epoch %d",
                        TAKEOVER_WAIT, epoch)
            return
        status = await client.admin.command({"connectionStatus": 1})
        users = [{"user": u["user"], "db": u["db"]}
                 for u in status.get("authInfo", {}).get("authenticatedUsers", [])]
        log.warning("the chat writer fence's token waited %.0f s for another client's "
                    "transaction (a writer killed or paused inside one?): ending the "
                    "store's sessions to take over at epoch %d", TAKEOVER_WAIT, epoch)
        try:
            await self._command(client.admin, {"killAllSessions": users})
        except OperationFailure as exc:
            if exc.code != _UNAUTHORIZED:
                raise
            # Only the wait is lost, until the holder commits or the store ends it.
            log.warning("cannot end the store's sessions (Unauthorized: the user lacks "
                        "killAnySession); waiting for the transaction to end")
