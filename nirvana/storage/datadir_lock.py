"""One Nirvana per data directory: an advisory lock on `<data dir>/nirvana.lock`.

The lock is an `flock` held on an open file for the life of the process, so the kernel
releases it however the process ends (a `kill -9` included) and a stale lock cannot exist.
The file also says who holds it (pid and URL), so a second start can refuse in one line
naming the running server. Child processes do not inherit the descriptor (Python opens
files non-inheritable), so an orphaned database never keeps the directory locked.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

LOCK_NAME = "nirvana.lock"
# The server's holder name: any other names a tool, which lets go when it is done.
SERVER = "Nirvana"


class DataDirInUseError(RuntimeError):
    """Another process holds the data directory; the message names it in one line, and
    `in_use` without the advice (a tool that needs this directory's stores gives its own).
    A tool (a backup, an admin command) lets go when it is done, so the advice is to wait
    for it; a server or an unknown holder has to be stopped, or another directory used."""

    def __init__(self, in_use: str, by_tool: bool = False) -> None:
        advice = "wait for it to finish" if by_tool else "stop it first or set DATA_DIR"
        super().__init__(f"{in_use}; {advice}")
        self.in_use = in_use
        self.by_tool = by_tool


class DataDirLock:
    def __init__(self, data_dir: Path, holder: str = SERVER) -> None:
        self.path = data_dir / LOCK_NAME
        self.holder = holder
        self._fd: int | None = None

    def acquire(self) -> "DataDirLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._in_use() from None
        self._fd = fd
        self.announce()
        return self

    def announce(self, url: str | None = None) -> None:
        """Record who holds the lock (and, once it listens, where) for a refused second start."""
        assert self._fd is not None, "announce() before acquire()"
        info = {"pid": os.getpid(), "holder": self.holder, "url": url}
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(info).encode(), 0)

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            # The file stays: unlinking it would let a third process lock a new inode while
            # a second still waits on the old one.
            os.close(fd)

    def __enter__(self) -> "DataDirLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _in_use(self) -> DataDirInUseError:
        where = self.path.parent
        try:
            info = json.loads(self.path.read_text())
            holder = info.get("holder") or SERVER
            who = f"{holder} (pid {int(info['pid'])}"
            who += f", {info['url']})" if info.get("url") else ", starting)"
        except (OSError, ValueError, KeyError, TypeError):
            holder, who = None, "another process"
        return DataDirInUseError(f"data directory {where} is in use by {who}",
                                 by_tool=holder is not None and holder != SERVER)


def holder_of(data_dir: Path) -> dict | None:
    """Who holds `data_dir`'s lock ({pid, holder, url}), or None when nobody does."""
    path = data_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return json.loads(path.read_text())
            except (OSError, ValueError):
                return {"pid": None, "holder": "another process", "url": None}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
