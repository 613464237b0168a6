"""The PostgreSQL a command-line tool (`nirvana.seed`, `nirvana.admin`) works on: DATABASE_URL,
or the embedded cluster under DATA_DIR — started for the tool and stopped after it, or, when
run.py has it up, shared and left running."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from ..settings import Settings
from .datadir_lock import DataDirInUseError, DataDirLock
from .embedded import EmbeddedPostgres


@contextmanager
def tool_postgres(settings: Settings, holder: str) -> Iterator[str]:
    """The database URL, for the duration of the block. Raises EmbeddedError if the embedded
    cluster cannot start."""
    if settings.database_url is not None:
        yield settings.database_url
        return
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = DataDirLock(data_dir, holder=holder).acquire()
    except DataDirInUseError:
        lock = None  # run.py has this cluster up: we share it and must leave it running
    postgres = EmbeddedPostgres(data_dir / "postgres", shared=lock is None)
    try:
        url = postgres.start()
        try:
            yield url
        finally:
            if lock is not None:
                postgres.stop()
    finally:
        if lock is not None:
            lock.release()
