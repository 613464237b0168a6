"""Which instance runs the chat writer, when several share the databases (REDIS_URL).

Exactly one process at a time allocates seqs and stream positions: the holder of the
PostgreSQL lease `chat-writer` (nirvana/leases.py; its epoch is the fencing token). The
others forward writer-bound chat commands to it (storage/redis/chat_forwarding.py) and ask
it for the head. Every process keeps trying to take the lease, so when the writer dies
another takes over within the lease's TTL. Why one writer: docs/deployment.md.

Without REDIS_URL none of this runs: the 'instance' lease already makes the process alone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from .leases import HeldLease, LeaseStore, holder_detail, holder_is_dead_here
from .tasks import stop_if_cancelled

log = logging.getLogger("nirvana.chat.writer_role")

CHAT_WRITER = "chat-writer"
# Short: in-flight sends fail `unavailable` for up to this long when the writer dies.
TTL = 6.0
RENEW_EVERY = 2.0  # two renewals may fail before the lease is at risk
TRY_EVERY = 1.0  # how often a follower tries to take a lapsed lease
FAILED_TRIES_REPORTED = 5  # failed leads in a row logged as an error, once a streak


class ChatWriterRole:
    """Takes and renews the `chat-writer` lease; calls `lead(may_commit, epoch)` when this
    process becomes the writer (`epoch`: the lease's, which the store's fence checks,
    storage/mongo/fence.py) and `follow()` when it is not (at start too), before it acts
    so."""

    def __init__(self, leases: LeaseStore, holder: str, *,
                 lead: Callable[[Callable[[], bool], int], Awaitable[None]],
                 follow: Callable[[], Awaitable[None]], url: str | None = None,
                 stepped_down: Callable[[], bool] = lambda: False,
                 ttl: float = TTL, renew_every: float = RENEW_EVERY,
                 try_every: float = TRY_EVERY) -> None:
        self._leases = leases
        self.holder = holder
        self._lead = lead
        self._follow = follow
        self._url = url
        self._ttl = ttl
        self._renew_every = renew_every
        self._try_every = try_every
        # Whether the writer stopped at a refusal of its own epoch (the store's fence was
        # raised by another): then the lease is given back even if it still renews.
        self._stepped_down = stepped_down
        self._failed_tries = 0  # takes in a row whose lead failed (see `_try_take`)
        self.held: HeldLease | None = None
        self._stepped_lease: HeldLease | None = None  # kept from step_down to give_back

    def failed_leads(self) -> int:
        """Tries in a row whose lead failed (the store's fence could not be raised)."""
        return self._failed_tries

    def is_writer(self) -> bool:
        """Whether this process may commit chat writes now (the lease, by its own clock)."""
        return self.held is not None and self.held.valid() and not self._stepped_down()

    async def writer_now(self) -> str:
        """Who writes chat now, as `/ready` reports it: "here", "elsewhere" (another
        instance holds the lease, by the database's clock) or "none" (no instance leads,
        so chat writes are answered `unavailable` everywhere until one does). A lease this
        instance holds while it is still raising the fence reads "none": nothing commits
        yet. Raises what the lease read raises (PostgreSQL unreachable)."""
        if self.is_writer():
            return "here"
        lease = await self._leases.current(CHAT_WRITER)
        if lease is not None and lease.remaining > 0 and lease.holder != self.holder:
            return "elsewhere"
        return "none"

    async def start(self) -> None:
        """Try once (the first instance leads from its first request), else follow. A try
        that fails (the store's fence could not be raised) leaves this instance following,
        and `run` tries again: the process starts either way."""
        await self._follow()
        await self._quietly(self._try_take)

    async def run(self) -> None:
        while True:
            if self.held is None:
                await asyncio.sleep(self._try_every)
                await self._quietly(self._try_take)
            else:
                await asyncio.sleep(self._renew_every)
                await self._quietly(self._renew)

    async def release(self) -> None:
        """At stop: the next writer need not wait for the lease to expire."""
        await self.step_down()
        await self.give_back()

    async def step_down(self) -> None:
        """At stop, once `run` was cancelled: nothing commits here past this point, but the
        lease stays held until `give_back`, so no other instance leads (and publishes)
        before this one's last answers and frames are out (bootstrap.Services.close)."""
        held, self.held = self.held, None
        if held is not None:
            self._stepped_lease = held
            await self._follow()

    def still_holds(self) -> bool:
        """Whether the lease a `step_down` kept is still this process's by its own clock
        (which distrusts it before the database does): no other instance can lead yet."""
        return self._stepped_lease is not None and self._stepped_lease.valid()

    async def give_back(self) -> None:
        """The lease a `step_down` kept: the next writer may take it at once."""
        held, self._stepped_lease = self._stepped_lease, None
        if held is not None:
            await held.release()

    async def _try_take(self) -> None:
        sent = time.monotonic()
        detail = holder_detail(self._url)
        taken, lease = await self._leases.acquire(CHAT_WRITER, self.holder, self._ttl, detail)
        if not taken and holder_is_dead_here(lease):
            sent = time.monotonic()
            taken, lease = await self._leases.acquire(CHAT_WRITER, self.holder, self._ttl,
                                                      detail, take_from=lease.holder)
        if not taken:
            return
        held = HeldLease(self._leases, lease, ttl=self._ttl, renew_every=self._renew_every,
                         sent_at=sent)
        # Fenced and loaded again from the store before anything commits: the previous
        # writer's seqs, positions and summaries are not this process's. A lead that fails
        # (the fence could not be raised) gives the lease back at once, so another
        # instance may lead, and leaves this one following as before.
        try:
            await self._lead(held.valid, lease.epoch)
        except BaseException as exc:
            self._failed_tries += not isinstance(exc, asyncio.CancelledError)
            if self._failed_tries == FAILED_TRIES_REPORTED:
                # Every try fails the same way: no instance may be writing chat at all.
                log.error("this instance failed to lead chat %d times in a row (the "
                          "store's fence could not be raised?): chat writes may be "
                          "refused everywhere until it can", self._failed_tries)
            # Whatever these raise must not replace what stopped the lead: a cancellation
            # at shutdown (the pool closing meanwhile) must still end the role's loop.
            await self._quietly(self._follow)
            await self._quietly(held.release)
            raise
        self._failed_tries = 0
        self.held = held
        log.info("this instance is the chat writer now (epoch %d)", lease.epoch)

    async def _renew(self) -> None:
        held = self.held
        assert held is not None
        if self._stepped_down():  # the next try (here or elsewhere) raises the fence again
            self.held = None
            await self._follow()
            await held.release()
            log.warning("chat writer lease given back (epoch %d): the store refuses this "
                        "instance's writes", held.epoch)
            return
        if not await held.renew():  # taken by another: it may be committing already
            self.held = None
            await self._follow()
            log.warning("chat writer lease lost (epoch %d); forwarding chat writes now",
                        held.epoch)

    async def _quietly(self, step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:  # the database is down or slow: valid() says when to stop trusting
            log.warning("chat writer lease step failed", exc_info=True)
            stop_if_cancelled()  # a cancel the step's failure hid
