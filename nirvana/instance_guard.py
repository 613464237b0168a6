"""One process per set of databases unless REDIS_URL is set — and never a mix of the two.

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
from typing import Awaitable, Callable, TypeGuard

from .chat_writer_role import CHAT_WRITER
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


def _who(lease: Lease) -> str:
    detail = lease.detail
    who = f"pid {detail.get('pid')} on {detail.get('host')}"
    if detail.get("url"):
        who += f", {detail['url']}"
    return who


def _tool_at_work(lease: Lease) -> str | None:
    """The refusal when a command-line tool (not a server) holds the lease, else None:
    neither stopping a server nor REDIS_URL is the advice then."""
    tool = lease.detail.get("tool")
    if not tool:
        return None
    return (f"{tool} is at work on these databases (pid {lease.detail.get('pid')} on "
            f"{lease.detail.get('host')}): wait for it to finish, or for its lease to expire "
            f"within {max(1, math.ceil(lease.remaining))} s.")


def refusal(lease: Lease) -> str:
    if (tool := _tool_at_work(lease)) is not None:
        return tool
    wait = max(1, math.ceil(lease.remaining))
    return (f"another Nirvana ({_who(lease)}) is using these databases. Stop it, or set "
            f"REDIS_URL on every instance to run several (docs/deployment.md). If it "
            f"crashed, its lease expires within {wait} s.")


async def refuse_mixed(store: LeaseStore, *, with_redis: bool) -> None:
    """Raise InstanceRunning if processes of the other kind run on these databases: one
    without REDIS_URL beside instances with it would write chat on its own beside their
    writer (positions handed out twice), and neither would hear the other's events."""
    lease = await store.current(INSTANCE if with_redis else CHAT_WRITER)
    if not _live(lease):
        return
    assert lease is not None  # _live says so
    if (tool := _tool_at_work(lease)) is not None:
        raise InstanceRunning(tool)
    if with_redis:
        raise InstanceRunning(
            f"another Nirvana ({_who(lease)}) is using these databases without REDIS_URL. "
            f"Stop it and start every instance with the same REDIS_URL "
            f"(docs/deployment.md).")
    raise InstanceRunning(
        f"Nirvana instances with REDIS_URL are using these databases (the chat writer: "
        f"{_who(lease)}). Set the same REDIS_URL to join them (docs/deployment.md), or "
        f"stop them.")


async def refuse_running(store: LeaseStore, doing: str) -> Lease | None:
    """Raise InstanceRunning if Nirvana serves on these databases: one process without
    REDIS_URL holds the 'instance' lease, instances with it have a chat writer holding
    'chat-writer' (between one writer's lapse and the next's lead, for at least a second,
    longer while leads fail, they hold neither). Else the 'chat-writer' lease as read (its
    epoch rises when a writer leads: the caller's check that none did meanwhile)."""
    lease = None
    for name in (INSTANCE, CHAT_WRITER):
        lease = await store.current(name)
        if _live(lease):
            raise InstanceRunning(_tool_at_work(lease) or (
                f"Nirvana ({_who(lease)}) is using these databases: stop every instance "
                f"before {doing}. If it crashed, its lease expires within "
                f"{max(1, math.ceil(lease.remaining))} s."))
    return lease


def _live(lease: Lease | None) -> TypeGuard[Lease]:
    return lease is not None and lease.remaining > 0 and not holder_is_dead_here(lease)


async def claim_instance(store: LeaseStore, holder: str, url: str | None, *, ttl: float = TTL,
                         on_lost: Callable[[], Awaitable[None] | None] | None = None,
                         tool: str | None = None) -> HeldLease:
    """Hold the 'instance' lease, or raise InstanceRunning naming the process that does.
    A command-line `tool` (no server: `url` None) is named so to a start it refuses."""
    detail = holder_detail(url, tool=tool)
    sent = time.monotonic()
    held, lease = await store.acquire(INSTANCE, holder, ttl, detail)
    if not held and holder_is_dead_here(lease):
        sent = time.monotonic()
        held, lease = await store.acquire(INSTANCE, holder, ttl, detail,
                                          take_from=lease.holder)
    if not held:
        raise InstanceRunning(refusal(lease))
    return HeldLease(store, lease, ttl=ttl, sent_at=sent, on_lost=on_lost)
