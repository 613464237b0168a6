"""Holding a lease while the process runs: renewed in the background, given up at stop.

The holder trusts its lease only until `ttl - margin` seconds after the last renewal was
*sent*, by its own monotonic clock: a process paused (SIGSTOP, a long GC, a frozen VM)
past that knows on waking that it may have lost the lease, before it asks the database.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from typing import Any, Awaitable, Callable, Protocol

from .storage.postgres.leases import Lease

log = logging.getLogger("nirvana.leases")

TTL = 15.0  # a crashed holder blocks the next start for at most this long
RENEW_EVERY = TTL / 3  # two renewals may fail (a slow database) before the lease is at risk


class LeaseStore(Protocol):
    async def acquire(self, name: str, holder: str, ttl: float, detail: dict[str, Any],
                      *, take_from: str | None = None) -> tuple[bool, Lease]: ...

    async def renew(self, name: str, holder: str, epoch: int, ttl: float) -> Lease | None: ...

    async def release(self, name: str, holder: str, epoch: int) -> None: ...

    async def current(self, name: str) -> Lease | None: ...


def new_holder() -> str:
    """This process's name in leases: unique per start, readable in the refusal message."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def holder_detail(url: str | None = None, *, tool: str | None = None) -> dict[str, Any]:
    """Who holds a lease, for a refusal: a server's URL, or a command-line `tool`'s name."""
    detail: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid(), "url": url}
    if tool is not None:
        detail["tool"] = tool
    return detail


def holder_is_dead_here(lease: Lease) -> bool:
    """Whether the lease's holder was a process on this machine that no longer runs (a
    kill -9 or a crash): its lease can be taken at once instead of after it expires."""
    detail = lease.detail
    if detail.get("host") != socket.gethostname() or not isinstance(detail.get("pid"), int):
        return False
    pid = detail["pid"]
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    # Killed but not yet reaped by its parent: gone for our purposes, though its pid stays.
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].startswith("Z")


class HeldLease:
    """A lease this process holds: `valid()` while it may act on it; `run()` renews it and
    calls `on_lost` once if another process took it."""

    def __init__(self, store: LeaseStore, lease: Lease, *, ttl: float = TTL,
                 renew_every: float = RENEW_EVERY, sent_at: float | None = None,
                 on_lost: Callable[[], Awaitable[None] | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self.lease = lease
        # When it was taken, by the database's clock: what happened before was another's.
        self.taken_at = lease.read_at
        self._ttl = ttl
        self._renew_every = renew_every
        self._clock = clock
        self._on_lost = on_lost
        # A second of margin: the database's expiry and ours start from the same request.
        self._valid_until = (clock() if sent_at is None else sent_at) + ttl - 1.0
        self.lost = False

    @property
    def epoch(self) -> int:
        return self.lease.epoch

    def valid(self) -> bool:
        return not self.lost and self._clock() < self._valid_until

    async def renew(self) -> bool:
        """One renewal; False once the lease is lost (taken by another process)."""
        if self.lost:
            return False
        sent = self._clock()
        lease = await self._store.renew(self.lease.name, self.lease.holder, self.lease.epoch,
                                        self._ttl)
        if lease is None:
            await self._lose()
            return False
        self.lease = lease
        self._valid_until = sent + self._ttl - 1.0
        return True

    async def run(self) -> None:
        while not self.lost:
            await asyncio.sleep(self._renew_every)
            try:
                await self.renew()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is down or slow: try again; valid() says when to stop trusting
                log.warning("renewing lease %r failed", self.lease.name, exc_info=True)

    async def release(self) -> None:
        if self.lost:
            return
        self.lost = True
        await self._store.release(self.lease.name, self.lease.holder, self.lease.epoch)

    async def _lose(self) -> None:
        self.lost = True
        log.error("lease %r was taken by another process", self.lease.name)
        if self._on_lost is not None:
            result = self._on_lost()
            if result is not None:
                await result
