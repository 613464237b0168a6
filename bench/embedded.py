"""Throwaway embedded stores for the benchmarks that run Nirvana's code in their own process.

`bench.store_cost`, `bench.asgi_loop`, `bench.ws_send_cpu` and the others each want a fresh
MongoDB-wire server (and some a PostgreSQL) in a temporary directory, stopped and removed
whatever the run does; this is that block, once. The `make bench` parts that start Nirvana as
a server let it start its own stores (bench/servers.py).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator


@dataclass(frozen=True)
class Stores:
    root: Path  # the temporary directory: the stores' data, and room for the caller's own
    mongodb_url: str
    mongo_pid: int  # to read the store's CPU (bench.servers.tree_cpu_seconds)
    database_url: str | None  # None unless PostgreSQL was asked for


def mongo_pid(root: Path) -> int | None:
    """The pid of the MongoDB-wire server started with its data in `root / "mongo"`, from the
    file it leaves beside it; None when it is not running."""
    try:
        return int(json.loads((root / "mongo.pid").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


@contextlib.contextmanager
def throwaway_stores(prefix: str, *, postgres: bool = False) -> Iterator[Stores]:
    """Start a durable MongoDB-wire server (as run.py starts it) and, with `postgres`, an
    embedded PostgreSQL, in a new temporary directory named from `prefix`; on leaving, stop
    both and remove the directory, also when a start or the block fails."""
    # Imported when used, as bench/instances.py and bench/seed_peer.py do: the modules that
    # only read a pid (`mongo_pid`) need none of Nirvana.
    from nirvana.storage.embedded import EmbeddedMongo, EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix=prefix))
    pg = EmbeddedPostgres(root / "postgres") if postgres else None
    mongo = EmbeddedMongo(root / "mongo")
    try:
        database_url = pg.start() if pg is not None else None
        mongodb_url = mongo.start()
        pid = mongo_pid(root)
        if pid is None:
            raise RuntimeError(f"the MongoDB-wire server left no pid file in {root}")
        yield Stores(root, mongodb_url, pid, database_url)
    finally:
        mongo.stop()
        if pg is not None:
            pg.stop()
        shutil.rmtree(root, ignore_errors=True)
