"""Back up a Nirvana data directory while it serves, and restore it into an empty one.

    python -m nirvana.backup create DIR     (make backup BACKUP=DIR)
    python -m nirvana.backup restore DIR    (make restore BACKUP=DIR)
    python -m nirvana.backup restore --new-deployment DIR    (a copy, not a recovery)

Both read the same settings as run.py (DATA_DIR, DATABASE_URL, MONGODB_URL, ...). A backup
directory holds:

    mongo.tar.gz    the MongoDB-wire store: a checkpoint archive written by the server itself
                    (SecantusDB's `secantusAdmin.backupArchive`), one point in time
    postgres.dump   `pg_dump --format=custom`: one snapshot of the database
    media/          the uploaded files under the data directory (not Cloudinary's)
    jwt_secret      the signing secret, when Nirvana generated it (keep the backup private;
                    a --new-deployment copy makes its own)
    manifest.json   written last: a directory without it is an unfinished backup

The MongoDB-wire store is archived first and PostgreSQL second, so every user id a chat
document names is in the dump; media is copied last, so every file a row names is there.
See docs/operations.md for what is consistent and how a restored server resumes its clients.

SecantusDB is GPL-2.0: it is only ever driven over the wire and through its own programs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import asyncpg
import pymongo
import pymongo.errors

from .deployment_identity import new_deployment_id
from .settings import ConfigError, Settings
from .storage.mongo.deployment import COLLECTION as DEPLOYMENT_COLLECTION
from .storage.mongo.deployment import DOCUMENT_ID as DEPLOYMENT_DOCUMENT
from .storage.datadir_lock import DataDirInUseError, DataDirLock
from .storage.embedded import (
    EmbeddedError,
    EmbeddedMongo,
    EmbeddedPostgres,
    postgres_tool,
    running_mongo_url,
    secantus_tool,
)
from .storage.postgres.pool import create_pool, migrate

FORMAT = 1
MANIFEST = "manifest.json"


class BackupError(RuntimeError):
    """A backup or restore cannot go on; the message says why in one line."""


def _run(argv: list[str], what: str) -> None:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        raise BackupError(f"{what} failed: {last[0] if last else f'exit {proc.returncode}'}")


@contextlib.contextmanager
def _stores(settings: Settings) -> Iterator[tuple[str, str]]:
    """The URLs of the stores: the running Nirvana's, or the embedded ones started for the
    backup (holding the data directory's lock, so Nirvana cannot start meanwhile)."""
    data_dir = settings.data_dir.resolve()
    lock: DataDirLock | None = DataDirLock(data_dir, holder="nirvana.backup")
    try:
        lock.acquire()
    except DataDirInUseError:
        lock = None  # Nirvana is running: use its stores and leave them running
    postgres = mongo = None
    try:
        pg_url = settings.database_url
        if pg_url is None:
            embedded = EmbeddedPostgres(data_dir / "postgres")
            if lock is not None:
                postgres = embedded
                pg_url = embedded.start()
            else:
                pg_url = embedded.running_url()
            if pg_url is None:
                raise BackupError(f"the PostgreSQL of the Nirvana using {data_dir} is not running")
        mongo_url = settings.mongodb_url
        if mongo_url is None:
            if lock is not None:
                mongo = EmbeddedMongo(data_dir / "mongo")
                mongo_url = mongo.start()
            else:
                mongo_url = running_mongo_url(data_dir)
            if mongo_url is None:
                raise BackupError(f"the MongoDB-wire server of the Nirvana using {data_dir} "
                                  "is not running")
        yield pg_url, mongo_url
    finally:
        if mongo is not None:
            mongo.stop()
        if postgres is not None:
            postgres.stop()
        if lock is not None:
            lock.release()


def _archive_mongo(url: str, path: Path) -> None:
    client: pymongo.MongoClient = pymongo.MongoClient(url, serverSelectionTimeoutMS=10_000)
    try:
        # The server checkpoints and tars its storage while holding its storage lock: writes
        # wait for the archive and none is half in it.
        client.admin.command("secantusAdmin.backupArchive", outputPath=str(path))
    except pymongo.errors.OperationFailure as exc:
        if exc.code == 59:  # CommandNotFound: a real MongoDB
            raise BackupError("the MongoDB at MONGODB_URL is not SecantusDB: back it up with "
                              "mongodump (or your provider's snapshots)") from None
        raise BackupError(f"the MongoDB-wire archive failed: {exc.details or exc}") from None
    except pymongo.errors.PyMongoError as exc:
        raise BackupError(f"the MongoDB-wire server did not answer: {exc}") from None
    finally:
        client.close()


def _copy_tree(source: Path, target: Path) -> int:
    if not source.is_dir():
        return 0
    shutil.copytree(source, target, dirs_exist_ok=True)
    return sum(1 for p in target.rglob("*") if p.is_file())


def create(settings: Settings, target: Path) -> dict:
    """Write a backup of `settings`' stores and media into `target` (new or empty)."""
    target = target.resolve()
    data_dir = settings.data_dir.resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} is not an empty directory: a backup goes into a new one")
    if settings.database_url is None and not (data_dir / "postgres" / "PG_VERSION").exists():
        raise BackupError(f"no Nirvana data in {data_dir} (set DATA_DIR)")
    target.mkdir(parents=True, exist_ok=True)
    began = datetime.now(timezone.utc)
    with _stores(settings) as (pg_url, mongo_url):
        _archive_mongo(mongo_url, target / "mongo.tar.gz")
        _run([postgres_tool("pg_dump"), "--format=custom", "--no-owner",
              "--file", str(target / "postgres.dump"), "--dbname", pg_url], "pg_dump")
    media = 0
    if settings.cloudinary_url is None:
        media = _copy_tree(data_dir / "media", target / "media")
    if settings.jwt_secret is None and (data_dir / "jwt_secret").exists():
        shutil.copy2(data_dir / "jwt_secret", target / "jwt_secret")
        os.chmod(target / "jwt_secret", 0o600)
    manifest = {
        "format": FORMAT,
        "began_at": began.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
        "mongodb_db": settings.mongodb_db,
        "media_files": media,
        "media": "cloudinary (not included)" if settings.cloudinary_url else "local",
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


async def _mark_a_copy(pg_url: str, new_id: str) -> None:
    # The schema first: a backup from before deployment ids has no table to mark.
    pool = await create_pool(pg_url, timeout=30, min_size=1, max_size=1)
    try:
        await migrate(pool)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("DELETE FROM deployment")
            await conn.execute("INSERT INTO deployment (id, copied_at) VALUES ($1, now())",
                               new_id)
            # A copy serves none of the original's sign-ins: refresh tokens and password
            # reset tokens are stored hashes that no new secret voids (access tokens, email
            # links and sign-in challenges are signed, and void with the secret).
            await conn.execute("UPDATE refresh_tokens SET revoked_at = now() "
                               "WHERE revoked_at IS NULL")
            await conn.execute("UPDATE password_resets SET used_at = now() WHERE used_at IS NULL")
            # Nor does it send the original's queued mail to its real recipients, nor the
            # mail of the original's queued work: the missed-message digests waiting (their
            # seqs are mailed only from `pending`) and the exports asked for (mailed when
            # ready), marked as the worker marks one it gave up on.
            await conn.execute("UPDATE mail_outbox SET failed_at = now(), "
                               "last_error = 'not sent: restored into a copy' "
                               "WHERE sent_at IS NULL AND failed_at IS NULL")
            await conn.execute("UPDATE missed_messages SET pending = '{}', due_at = NULL "
                               "WHERE due_at IS NOT NULL OR pending <> '{}'")
            await conn.execute("UPDATE exports SET state = 'failed', claimed_at = NULL "
                               "WHERE state IN ('pending', 'building')")
    finally:
        await pool.close()


def _make_a_copy(data_dir: Path, pg_url: str) -> None:
    """A copy's stores with an id of their own, made now and marked as a copy's in
    PostgreSQL: the copy is refused beside the original's chat store or Redis, in a line
    that says it is a copy, and the original beside the copy's (docs/deployment.md, "One
    deployment's stores"). The chat store forgets the original's id and adopts the copy's
    at its first start."""
    try:
        asyncio.run(_mark_a_copy(pg_url, new_deployment_id()))
    except (asyncpg.PostgresError, OSError) as exc:
        raise BackupError(f"making the copy's deployment id failed: {exc}") from None
    mongo = EmbeddedMongo(data_dir / "mongo")
    client: pymongo.MongoClient = pymongo.MongoClient(mongo.start(),
                                                      serverSelectionTimeoutMS=10_000)
    try:
        for name in client.list_database_names():  # whichever MONGODB_DB the copy runs
            client[name][DEPLOYMENT_COLLECTION].delete_one({"_id": DEPLOYMENT_DOCUMENT})
    except pymongo.errors.PyMongoError as exc:
        raise BackupError(f"forgetting the chat store's deployment id failed: {exc}") from None
    finally:
        client.close()
        mongo.stop()


def restore(settings: Settings, source: Path, *, new_deployment: bool = False) -> dict:
    """Fill an empty data directory from the backup in `source`: the same deployment (its
    id kept: a recovery), or with `new_deployment` a copy that makes its own id."""
    source = source.resolve()
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError):
        raise BackupError(f"{source} is not a finished Nirvana backup (no {MANIFEST})") from None
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{source} has backup format {manifest.get('format')!r}; "
                          f"this Nirvana reads format {FORMAT}")
    if settings.database_url or settings.mongodb_url:
        raise BackupError("restore fills the embedded stores of an empty data directory: unset "
                          "DATABASE_URL and MONGODB_URL (restore servers of your own with "
                          "pg_restore and your MongoDB's tools)")
    data_dir = settings.data_dir.resolve()
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise BackupError(f"data directory {data_dir} is not empty: restore only fills an "
                          "empty one (set DATA_DIR to a new directory)")
    data_dir.mkdir(parents=True, exist_ok=True)
    with DataDirLock(data_dir, holder="nirvana.backup restore"):
        _run([secantus_tool("secantus-restore-archive"), "--archive",
              str(source / "mongo.tar.gz"), "--target-dir", str(data_dir / "mongo")],
             "restoring the MongoDB-wire archive")
        postgres = EmbeddedPostgres(data_dir / "postgres")
        url = postgres.start()
        try:
            _run([postgres_tool("pg_restore"), "--no-owner", "--exit-on-error",
                  "--single-transaction", "--dbname", url, str(source / "postgres.dump")],
                 "pg_restore")
            if new_deployment:
                _make_a_copy(data_dir, url)
        finally:
            postgres.stop()
        _copy_tree(source / "media", data_dir / "media")
        # A copy signs with a secret of its own (made at its first start): the original's
        # tokens are refused by it, and whoever runs the copy cannot mint the original's.
        if (source / "jwt_secret").exists() and not new_deployment:
            shutil.copy2(source / "jwt_secret", data_dir / "jwt_secret")
    return manifest


def _dumped(settings: Settings, manifest: dict) -> str:
    """The stores a backup holds, as the operator configured them."""
    data_dir = settings.data_dir.resolve()
    postgres = ("PostgreSQL at DATABASE_URL" if settings.database_url
                else f"the embedded PostgreSQL ({data_dir / 'postgres'})")
    chat = ("the chat store at MONGODB_URL" if settings.mongodb_url
            else f"the embedded chat store ({data_dir / 'mongo'})")
    media = ("no media (on Cloudinary)" if settings.cloudinary_url
             else f"{manifest['media_files']} media files ({data_dir / 'media'})")
    return f"{postgres}, {chat} and {media}"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m nirvana.backup",
        description="Back up Nirvana's stores and media while it serves, or restore a backup "
                    "into an empty data directory. Settings come from the environment, as "
                    "for run.py (DATA_DIR, DATABASE_URL, MONGODB_URL).")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("create", help="write a backup into DIR (new or empty)").add_argument(
        "dir", type=Path)
    restore_ = sub.add_parser("restore", help="fill the empty DATA_DIR from the backup in DIR")
    restore_.add_argument("dir", type=Path)
    restore_.add_argument(
        "--new-deployment", action="store_true",
        help="a copy (staging, a test), not a recovery: the copy gets a deployment id of "
             "its own, marked as a copy's, and a JWT secret of its own")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.from_env(os.environ if environ is None else environ)
    except ConfigError as exc:
        print(f"nirvana.backup: error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "create":
            manifest = create(settings, args.dir)
            print(f"Backed up {_dumped(settings, manifest)} into {args.dir.resolve()} "
                  f"(began {manifest['began_at']}).")
        else:
            manifest = restore(settings, args.dir, new_deployment=args.new_deployment)
            print(f"Restored the backup of {manifest['began_at']} into "
                  f"{settings.data_dir.resolve()}"
                  f"{' as a new deployment' if args.new_deployment else ''}; start Nirvana with "
                  f"DATA_DIR={settings.data_dir.resolve()}.")
    except (BackupError, EmbeddedError, DataDirInUseError) as exc:
        print(f"nirvana.backup: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
