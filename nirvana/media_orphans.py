"""Files in the local media directory that no upload names, from the command line:

    python -m nirvana.media_orphans            # lists them, one path a line
    python -m nirvana.media_orphans --remove   # and removes them

A file (or a partial `.NAME.tmp` copy) is one when no ledger row names it (an upload, an upload
under way, an upload of a deleted account not yet erased) and it was last written more than
PENDING_BOUND ago (domain/upload_sweep.py), so a file still being saved is never taken, yet
after the ledger began (LEDGER_BEGAN): older files were saved with no ledger row and are still
in use. Only names the store issues are looked at, never a symlink. They were left by uploads
cut off by a crash before reservations named their files (schema step 0027).

Uses DATABASE_URL, or the embedded PostgreSQL under DATA_DIR as nirvana.admin does; safe while
Nirvana runs. Files on Cloudinary are not looked at (docs/operations.md says why).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

import asyncpg

from .domain.upload_sweep import PENDING_BOUND
from .settings import ConfigError, Settings
from .storage.embedded import EmbeddedError
from .storage.media import PUBLIC_PREFIX, issued_name
from .storage.postgres.pool import create_pool, migrate
from .storage.tool_postgres import tool_postgres

BATCH = 1000  # names looked up per statement

# The names of `$1` that some row names, each found by its table's primary key.
NAMED = (
    "SELECT n FROM unnest($1::text[]) AS n WHERE "
    f"EXISTS (SELECT FROM media_uploads WHERE url = '{PUBLIC_PREFIX}' || n) "
    f"OR EXISTS (SELECT FROM media_pending WHERE url = '{PUBLIC_PREFIX}' || n) "
    f"OR EXISTS (SELECT FROM media_orphans WHERE url = '{PUBLIC_PREFIX}' || n)")


# When the ledger began (schema step 0012): files written before it were saved with no row
# (avatars, blog and chat images of /api/v1/image/upload) and are still named by profiles,
# posts and messages, which this tool does not read; so it never takes them. A backup's
# restore keeps the files' times and this row's, so the rule holds after one.
LEDGER_BEGAN = "SELECT extract(epoch FROM applied_at) FROM schema_migrations WHERE version = 12"


async def unnamed(pool: asyncpg.Pool, media: Path, older_than: float = PENDING_BOUND
                  ) -> list[Path]:
    """The files under `media` no row names, last written over `older_than` seconds ago and
    after the ledger began. Only names the store issues (a `.NAME.tmp` copy is NAME's), no
    symlink: an operator's own files there are left alone."""
    before = time.time() - older_than
    since = float(await pool.fetchval(LEDGER_BEGAN))
    old: list[tuple[Path, str]] = []
    for p in sorted(media.iterdir() if media.is_dir() else ()):
        name = issued_name(p.name)
        if name is None or p.is_symlink() or not p.is_file():
            continue
        if since < p.stat().st_mtime < before:
            old.append((p, name))
    found: list[Path] = []
    for start in range(0, len(old), BATCH):
        batch = old[start:start + BATCH]
        named = {r["n"] for r in await pool.fetch(NAMED, [n for _, n in batch])}
        found += [p for p, n in batch if n not in named]
    return found


async def run(database_url: str, media: Path, remove: bool) -> list[Path]:
    pool = await create_pool(database_url, timeout=30, min_size=1, max_size=2)
    try:
        await migrate(pool)
        found = await unnamed(pool, media)
    finally:
        await pool.close()
    if remove:
        for path in found:
            path.unlink(missing_ok=True)
    return found


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nirvana.media_orphans",
        description="List (or remove) the files in DATA_DIR/media that no upload names, "
                    f"last written over {PENDING_BOUND:g} s ago.")
    parser.add_argument("--remove", action="store_true", help="remove them too")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.from_env(os.environ if environ is None else environ)
    except ConfigError as exc:
        print(f"nirvana.media_orphans: error: {exc}", file=sys.stderr)
        return 2
    try:
        with tool_postgres(settings, "nirvana.media_orphans") as url:
            found = asyncio.run(run(url, settings.data_dir / "media", args.remove))
    except (EmbeddedError, asyncpg.PostgresError, OSError) as exc:
        print(f"nirvana.media_orphans: error: {exc}", file=sys.stderr)
        return 1
    for path in found:
        print(path)
    print(f"{len(found)} file(s) no upload names{', removed' if args.remove else ''}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
