"""One process per set of databases unless REDIS_URL is set.

Without Redis, two processes on the same PostgreSQL and MongoDB would each allocate stream
positions and deliver only to their own sockets (issue 20), so the running process holds the
'instance' lease (nirvana/leases.py) and a second one refuses to start, in one line. A
process that crashed holds it until it expires (TTL) — or not at all if it ran on this
machine, where its pid shows it is gone.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from .leases import TTL, HeldLease, LeaseStore, holder_detail, holder_is_dead_here
from .storage.postgres.leases import Lease

INSTANCE = "instance"


class InstanceRunning(Exception):
    """Another live process holds the databases; the message says who and what to do."""


@dataclass(frozen=True)
class InstanceClaim:
    """What run.py asks of the services it opens: hold the 'instance' lease as `holder`."""

    holder: str
    url: str | None
    on_lost: Callable[[], Awaitable[None] | None]


def refusal(lease: Lease) -> str:
    detail = lease.detail
    who = f"pid {detail.get('pid')} on {detail.get('host')}"
    if detail.get("url"):
        who += f", {detail['url']}"
    wait = max(1, math.ceil(lease.remaining))
    return (f"another Nirvana ({who}) is using these databases. Stop it, or set REDIS_URL "
            f"on every instance to run several (docs/deployment.md). If it crashed, its "
            f"lease expires within {wait} s.")


async def claim_instance(store: LeaseStore, holder: str, url: str | None, *, ttl: float = TTL,
                         on_lost: Callable[[], Awaitable[None] | None] | None = None
                         ) -> HeldLease:
    """Hold the 'instance' lease, or raise InstanceRunning naming the process that does."""
    sent = time.monotonic()
    held, lease = await store.acquire(INSTANCE, holder, ttl, holder_detail(url))
    if not held and holder_is_dead_here(lease):
        sent = time.monotonic()
        held, lease = await store.acquire(INSTANCE, holder, ttl, holder_detail(url),
                                          take_from=lease.holder)
    if not held:
        raise InstanceRunning(refusal(lease))
    return HeldLease(store, lease, ttl=ttl, sent_at=sent, on_lost=on_lost)
