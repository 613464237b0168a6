"""Make the first admin, or change a role, from the command line:

    python -m nirvana.admin promote EMAIL        # the account becomes an admin
    python -m nirvana.admin role EMAIL moderator # or user / admin

and after PostgreSQL was restored alone or re-created beside the chat store, move its users
identity past every user id the chat store names (docs/deployment.md, "What to do when a
start is refused"):

    python -m nirvana.admin user-ids                         # what each store holds
    python -m nirvana.admin user-ids --move [--forget-chat-id]

and before going back to a release from before receipt bundles, with every instance stopped
(refused while one runs; docs/operations.md, "Receipts stored together"):

    python -m nirvana.admin unbundle-receipts   # ends with the number of bundles left

Uses DATABASE_URL, or the embedded PostgreSQL under DATA_DIR as run.py does (also while
Nirvana runs: the server reads roles from PostgreSQL on every moderation request, so the new
role counts at once). Each change is written to the audit log with actor 0, the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import time
from datetime import datetime, timezone
from typing import Any, Mapping, Sequence

import asyncpg
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

from .domain.accounts.users import normalise_email
from .domain.errors import InvalidInputError
from .domain.moderation.entities import Action, Role
from .chat_writer_role import CHAT_WRITER, TRY_EVERY
from .instance_guard import InstanceRunning, claim_instance, refuse_running
from .leases import TTL, HeldLease, new_holder
from .settings import ConfigError, Settings
from .storage.embedded import EmbeddedError, running_mongo_url
from .storage.postgres.moderation import PgModerationStore
from .storage.postgres.pool import create_pool, migrate
from .storage.mongo.deployment import COLLECTION as DEPLOYMENT_COLLECTION
from .storage.mongo.deployment import DOCUMENT_ID as DEPLOYMENT_DOCUMENT
from .storage.mongo.deployment import highest_user_id, users_mark
from .storage.mongo.documents import ConversationDoc
from .storage.mongo.unbundle import bundles_left, unbundle_receipts
from .storage.postgres.deployment import PgDeploymentId, users_issued
from .storage.postgres.leases import Lease, PgLeases
from .storage.tool_postgres import tool_postgres, tool_stores

log = logging.getLogger("nirvana.admin")

COMMAND_LINE_ACTOR = 0  # the audit log's actor for changes made here
UNBUNDLING = "python -m nirvana.admin unbundle-receipts"  # names it to a refused start


class Refused(RuntimeError):
    """The command must not run on these stores; the message says why in one line."""


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m nirvana.admin",
        description="Roles, PostgreSQL's user ids after a restore, and receipt bundles "
                    "before going back a release, from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    promote = sub.add_parser("promote", help="make the account with this email an admin")
    promote.add_argument("email")
    role = sub.add_parser("role", help="give the account with this email a role")
    role.add_argument("email")
    role.add_argument("role", choices=[r.value for r in Role])
    ids = sub.add_parser("user-ids", help="the highest user id the chat store names, its mark "
                         "and PostgreSQL's users identity (instances stopped)")
    ids.add_argument("--move", action="store_true",
                     help="move the users identity past them (never lowers it)")
    ids.add_argument("--forget-chat-id", action="store_true",
                     help="with --move: then make the chat store forget another deployment "
                          "id, so that it adopts PostgreSQL's at the next start")
    sub.add_parser("unbundle-receipts", help="store the chat store's receipt bundles as "
                   "plain receipts, for a release before 2026-12-07 (refused while an instance "
                   "runs)")
    args = parser.parse_args(argv)
    if args.command == "user-ids" and args.forget_chat_id and not args.move:
        parser.error("--forget-chat-id only with --move: forgetting the id without moving the "
                     "identity would hand the chat store's user ids out again")
    if args.command == "promote":
        args.role = Role.ADMIN.value
    return args


async def set_role(database_url: str, email: str, role: Role) -> str:
    """Give the account `role`; a sentence saying what was done."""
    pool = await create_pool(database_url, timeout=30, min_size=1, max_size=2)
    try:
        await migrate(pool)
        user_id = await pool.fetchval("SELECT id FROM users WHERE email = $1", email)
        if user_id is None:
            raise LookupError(f"no account has the email {email}")
        store = PgModerationStore(pool)
        before = await store.role_of(user_id)
        await store.set_role(user_id, role)
        await store.audit(COMMAND_LINE_ACTOR, Action.SET_ROLE, f"user:{user_id}",
                          "set from the command line (python -m nirvana.admin)", role.value,
                          None, datetime.now(timezone.utc))
        return f"{email} (user {user_id}) was {before} and is now {role.value}."
    finally:
        await asyncio.shield(pool.close())


async def user_ids(database_url: str, mongodb_url: str, mongodb_db: str, *, move: bool,
                   forget_chat_id: bool) -> str:
    """What the stores hold of user ids and, with `move`, the identity moved past them (and
    with `forget_chat_id` the chat store's other deployment id forgotten, only after the
    move); sentences saying so."""
    pool = await create_pool(database_url, timeout=30, min_size=1, max_size=1)
    mongo: AsyncMongoClient = AsyncMongoClient(mongodb_url, serverSelectionTimeoutMS=30_000)
    try:
        # A PostgreSQL restored from an older backup has the schema of its time: the steps
        # the next start would apply first (the deployment table among them).
        await migrate(pool)
        chat = mongo[mongodb_db]
        named, mark = await highest_user_id(chat), await users_mark(chat)
        chats = await chat[ConversationDoc.Settings.name].estimated_document_count()
        postgres = PgDeploymentId(pool, "PostgreSQL")
        issued = await postgres.users_issued()
        accounts = await pool.fetchval("SELECT coalesce(max(id), 0) FROM users")
        past = max(named, mark, accounts)
        said = [f"The chat store ({mongodb_db!r}, {chats} conversations) names user ids up "
                f"to {named}, its mark is {mark}; PostgreSQL's users identity is at {issued}."]
        if chats == 0:
            said.append(f"The chat store holds no chats in database {mongodb_db!r}: are "
                        f"MONGODB_URL and MONGODB_DB the instances'?")
        if past <= issued:
            said.append("The identity is past them.")
        elif move:
            async with pool.acquire() as conn, conn.transaction():
                # Sign-ups wait (an INSERT's lock conflicts with this one) and the identity is
                # read again: none handed out since the read above is undone.
                await conn.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE")
                issued = await users_issued(conn)
                if past > issued:
                    await conn.execute(
                        "SELECT setval(pg_get_serial_sequence('users', 'id'), $1)", past)
            said.append(f"Moved the identity to {past}." if past > issued else
                        f"The identity is past them: sign-ups moved it to {issued} since.")
        else:
            said.append(f"Move it to {past} with --move before any instance serves.")
        if forget_chat_id:
            ours = await pool.fetchval("SELECT id FROM deployment")
            held = await chat[DEPLOYMENT_COLLECTION].find_one({"_id": DEPLOYMENT_DOCUMENT})
            if held is not None and held["id"] != ours:
                await chat[DEPLOYMENT_COLLECTION].delete_one({"_id": DEPLOYMENT_DOCUMENT})
                said.append(f"The chat store forgot deployment id {held['id']}: it adopts "
                            f"PostgreSQL's at the next start.")
            else:
                said.append("The chat store holds this deployment's id (or none): nothing "
                            "to forget.")
        return " ".join(said)
    finally:
        await mongo.close()
        await asyncio.shield(pool.close())


async def unbundle(database_url: str, mongodb_url: str, mongodb_db: str, *,
                   leases: bool) -> tuple[str, int]:
    """The chat store's receipt bundles rewritten as plain receipts; a sentence saying so,
    and the number of bundles left (a writer ran meanwhile). With `leases` (a chat store at
    MONGODB_URL, which no data directory's lock guards): raises InstanceRunning while
    Nirvana serves on these databases, and holds the 'instance' lease meanwhile, beside
    which a starting Nirvana refuses (run.py `claim_databases`); raises Refused when a chat
    writer led meanwhile or the lease was lost, whatever the count."""
    mongo: AsyncMongoClient = AsyncMongoClient(mongodb_url, serverSelectionTimeoutMS=30_000)
    pool: asyncpg.Pool | None = None
    held: HeldLease | None = None
    writer: Lease | None
    renewing: asyncio.Task[None] | None = None
    unchecked, writer, read_at = "", None, 0.0
    try:
        chat = mongo[mongodb_db]
        if leases:
            # Only here: the embedded chat store's lock, not PostgreSQL, keeps Nirvana away.
            pool = await create_pool(database_url, timeout=30, min_size=1, max_size=2)
            await migrate(pool)
            unchecked = await _same_deployment(pool, chat, mongodb_db)
            read_at = time.monotonic()
            writer = await refuse_running(PgLeases(pool), "unbundling the receipts")
            held = await claim_instance(PgLeases(pool), new_holder(), None, tool=UNBUNDLING)
            renewing = asyncio.create_task(held.run())
        done = await unbundle_receipts(chat)
        left = await bundles_left(chat)
        if pool is not None and held is not None:
            await _no_writer_since(PgLeases(pool), writer, read_at)
            if held.lost or not held.valid():
                raise Refused("the 'instance' lease was lost while unbundling (another "
                              "process took it, or PostgreSQL was too slow to renew it): "
                              "stop every instance and run this again.")
    finally:
        await _stop(renewing, held)
        await mongo.close()
        if pool is not None:
            await asyncio.shield(pool.close())
    said = f"Rewrote {done} receipt bundles of {mongodb_db!r} as plain receipts{unchecked}"
    if left:
        return (f"{said}, but {left} bundles remain: a writer stored them meanwhile. Stop "
                f"every instance and run this again."), left
    return f"{said}; 0 bundles remain: an earlier release reads them.", 0


async def _no_writer_since(leases: PgLeases, before: Lease | None, read_at: float) -> None:
    """Raise Refused if a chat writer led since `before` was read: the count of bundles
    left misses those it stores after. Waits until a follower that found the lease lapsed
    at that read has had its try (instances with REDIS_URL hold no lease in between)."""
    await asyncio.sleep(max(0.0, read_at + TRY_EVERY + 1.0 - time.monotonic()))
    now = await leases.current(CHAT_WRITER)
    if now is None or (before is not None and now.epoch == before.epoch
                       and now.remaining <= 0):
        return
    raise Refused(f"a chat writer led meanwhile (pid {now.detail.get('pid')} on "
                  f"{now.detail.get('host')}): stop every instance and run this again.")


async def _stop(renewing: asyncio.Task[None] | None, held: HeldLease | None) -> None:
    """The renewal ended before the release (a renewal landing after it would make the
    lease live again), the release's failure logged: the stores are closed after it."""
    if renewing is not None:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
    if held is not None:
        try:
            await asyncio.shield(held.release())
        except Exception:
            log.warning("releasing the 'instance' lease failed: it expires within %.0f s",
                        TTL, exc_info=True)


async def _same_deployment(pool: asyncpg.Pool, chat: Any, mongodb_db: str) -> str:
    """Raise Refused when PostgreSQL is not the chat store's deployment's: its leases would
    say nothing of the instances writing to the chat store. A clause saying so when that
    cannot be told (a chat store that holds no id), else ''."""
    ours = await pool.fetchval("SELECT id FROM deployment")
    held = await chat[DEPLOYMENT_COLLECTION].find_one({"_id": DEPLOYMENT_DOCUMENT})
    if held is None:
        return (" (the chat store holds no deployment id, so whether PostgreSQL's leases are "
                "its instances' could not be checked)")
    if held["id"] != ours:
        raise Refused(f"the chat store ({mongodb_db!r}) holds deployment id {held['id']}, "
                      f"PostgreSQL {ours}: whether an instance writes to the chat store "
                      f"cannot be checked in another deployment's PostgreSQL. Set "
                      f"DATABASE_URL to the instances'.")
    return ""


def _no_chat_store(settings: Settings) -> str:
    """Why there is no chat store to unbundle under DATA_DIR ("" when there is, or when
    MONGODB_URL names it): run from the wrong directory, the tools would make a new, empty
    one and report "0 bundles remain" for stores they never saw."""
    if settings.mongodb_url is not None:
        return ""
    data_dir = settings.data_dir.resolve()
    if (data_dir / "mongo").is_dir() or running_mongo_url(data_dir) is not None:
        return ""
    return (f"no chat store in the data directory {data_dir}: set DATA_DIR to the one "
            f"Nirvana runs with (or MONGODB_URL and MONGODB_DB to its chat store)")


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.from_env(os.environ if environ is None else environ)
        email = (None if args.command in ("user-ids", "unbundle-receipts")
                 else normalise_email(args.email))
    except (ConfigError, InvalidInputError) as exc:
        print(f"nirvana.admin: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "unbundle-receipts":
            missing = _no_chat_store(settings)
            if missing:
                print(f"nirvana.admin: error: {missing}", file=sys.stderr)
                return 1
            with tool_stores(settings, UNBUNDLING, alone=True) as (database_url, mongodb_url):
                said, left = asyncio.run(unbundle(database_url, mongodb_url,
                                                  settings.mongodb_db,
                                                  leases=settings.mongodb_url is not None))
            print(said)
            return 1 if left else 0
        if email is None:
            with tool_stores(settings, "nirvana.admin") as (database_url, mongodb_url):
                print(asyncio.run(user_ids(database_url, mongodb_url, settings.mongodb_db,
                                           move=args.move,
                                           forget_chat_id=args.forget_chat_id)))
            return 0
        with tool_postgres(settings, "nirvana.admin") as url:
            print(asyncio.run(set_role(url, email, Role(args.role))))
    except (EmbeddedError, InstanceRunning, LookupError, PyMongoError, Refused,
            asyncpg.PostgresError) as exc:
        print(f"nirvana.admin: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
