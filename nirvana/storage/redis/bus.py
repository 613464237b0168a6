"""The bus between instances: Redis pub/sub with a prefix, that survives Redis restarts.

Redis is never the store of record (docs/deployment.md): a message published while a
subscriber is disconnected is lost for it. So the bus says when that may have happened —
`on_restored` runs each time the subscription comes back after a loss (or comes up for
the first time after a degraded start) — and the caller recovers from its stores
(clients resume). While Redis is down `up` is False and `publish` raises
`BusUnavailable` at once, without waiting on a connection.

One subscriber connection per process carries every channel; handlers run on the event
loop, synchronously and in arrival order, so one publisher's messages (each awaited
before the next) reach them in its order.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Awaitable, Callable, Sequence

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger("nirvana.bus")

CONNECT_SECONDS = 1.0
COMMAND_SECONDS = 2.0
IDLE_PING_SECONDS = 2.0  # an idle subscription pings this often...
SILENT_PINGS = 3  # ...and counts as lost when this many in a row went unanswered
RETRY_FIRST_SECONDS = 0.1
RETRY_MAX_SECONDS = 2.0
POOL_CONNECTIONS = 32  # commands in flight at once; more wait their turn

# What a lost or refused Redis raises: everything else is a bug and propagates.
REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


class BusUnavailable(Exception):
    """Redis cannot be reached now: nothing was published."""


class RedisBus:
    """Channels and keys of one deployment (`prefix`), shared by its instances."""

    def __init__(self, url: str, *, prefix: str, instance_id: str) -> None:
        self.prefix = prefix
        self.instance_id = instance_id
        self.up = False
        # No client-side retries: a failure must surface at once (and mark the bus down)
        # rather than hide a reconnect behind which messages were missed.
        options = dict(socket_connect_timeout=CONNECT_SECONDS, socket_timeout=COMMAND_SECONDS,
                       retry=Retry(NoBackoff(), 0), decode_responses=False)
        # Commands wait for a free pooled connection (as long as a command may take) rather
        # than fail: redis-py's default pool raises at its cap, and a burst of forwarded
        # sends would then read as Redis being down.
        # (from_pool: the client owns the pool, so aclose() closes its connections too.)
        self.redis: aioredis.Redis = aioredis.Redis.from_pool(
            aioredis.BlockingConnectionPool.from_url(
                url, max_connections=POOL_CONNECTIONS, timeout=COMMAND_SECONDS, **options))
        # Reads on the subscription block until a message comes: no socket timeout there.
        self._sub_client: aioredis.Redis = aioredis.Redis.from_url(
            url, **{**options, "socket_timeout": None})
        self._handlers: dict[bytes, list[Callable[[bytes], None]]] = {}
        self._restored: list[Callable[[], Awaitable[None] | None]] = []
        self._pubsub: aioredis.client.PubSub | None = None
        self._task: asyncio.Task | None = None
        self._connected_once = asyncio.Event()
        self._lost = asyncio.Event()  # set when the subscription failed: it reconnects
        self._missed = False  # messages may have been missed since the last (re)connect
        # Writes Redis refused or failed (out of memory, an ACL): logged once an episode.
        # Counted with those a failed publish may have lost: their owners write them again.
        self.refusals = 0
        self._refusing = 0

    def subscribe(self, channel: str, handler: Callable[[bytes], None]) -> None:
        name = (self.prefix + channel).encode()
        handlers = self._handlers.setdefault(name, [])
        handlers.append(handler)
        if len(handlers) == 1 and self._pubsub is not None and self.up:
            # Subscribing sends only; the reader task gets the confirmation. A failure here
            # is a lost connection, which the reader sees and recovers from (resubscribing).
            asyncio.get_running_loop().create_task(self._subscribe_live(name))

    def on_restored(self, callback: Callable[[], Awaitable[None] | None]) -> None:
        self._restored.append(callback)

    async def start(self) -> None:
        """Connect and start the subscriber; with Redis down, start degraded and keep trying.
        Once: a second call (another part of the wiring sharing this bus) returns at once."""
        if self._task is not None:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="redis-bus")
        try:
            await asyncio.wait_for(self._connected_once.wait(), CONNECT_SECONDS * 2)
        except asyncio.TimeoutError:
            log.warning("Redis is not reachable at start: running degraded until it is")

    async def publish(self, channel: str, payload: bytes | None,
                      writes: Sequence[Callable[[Any], None]] = ()) -> None:
        """`writes`: each adds commands to one MULTI pipeline that runs before the publish
        (none: `payload` None), so no subscriber hears the payload before they are done. A
        write Redis refuses or fails is logged; the payload is published all the same."""
        if not self.up:
            self.refusals += bool(writes)
            raise BusUnavailable("Redis is down")
        try:
            if not writes:
                assert payload is not None
                await self.redis.publish(self.prefix + channel, payload)
            else:
                pipe = self.redis.pipeline(transaction=True)
                for write in writes:
                    write(pipe)
                if payload is not None:
                    pipe.publish(self.prefix + channel, payload)
                await self._transaction(pipe, channel, payload)
        except REDIS_DOWN as error:
            # Down until the subscription hears Redis again (at most one idle ping later):
            # a publish that failed is no reason to drop a subscription that works, and
            # resubscribing would tell every listener that messages were missed.
            if self.up:
                log.warning("publishing to Redis failed: %s", error)
            self.refusals += bool(writes)
            self.up = False
            await self.redis.connection_pool.disconnect()
            raise BusUnavailable(str(error)) from error

    async def _transaction(self, pipe: Any, channel: str, payload: bytes | None) -> None:
        """The writes are never worth the payload: one Redis refuses (out of memory, a
        command it does not allow) is logged, and the payload published all the same."""
        try:
            results = await pipe.execute(raise_on_error=False)
        except ResponseError as error:  # refused when queued: EXEC aborted, nothing ran
            self._refused(f"Redis refused a write, published without it: {error}")
            if payload is not None:
                await self.redis.publish(self.prefix + channel, payload)
            return
        failed = [r for r in results if isinstance(r, ResponseError)]
        if failed:  # failed when run (the others ran, the publish with them)
            self._refused(f"a write failed in Redis: {failed[0]}")
        elif self._refusing:
            log.warning("Redis takes writes again (%d refused or failed)", self._refusing)
            self._refusing = 0

    def _refused(self, what: str) -> None:
        self.refusals += 1
        self._refusing += 1
        if self._refusing == 1:  # one line an episode, not one a batch
            log.warning("%s (the next are counted until a write succeeds)", what)

    async def close(self) -> None:
        self.up = False
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        # Closing must finish even when our caller is being cancelled (a stop on Ctrl-C).
        await asyncio.shield(self._close_clients())

    async def _close_clients(self) -> None:
        await self._drop_pubsub()
        await self.redis.aclose()
        await self._sub_client.aclose()

    def _mark_down(self) -> None:
        if self.up:
            log.warning("Redis connection lost: live frames stay on this instance until it is back")
        self.up = False
        self._lost.set()

    async def _subscribe_live(self, name: bytes) -> None:
        pubsub = self._pubsub
        if pubsub is None:
            return
        try:
            await pubsub.subscribe(name)
        except REDIS_DOWN:
            self._mark_down()

    async def _run(self) -> None:
        delay = RETRY_FIRST_SECONDS
        self._missed = False
        while True:
            try:
                await self._connect()
            except REDIS_DOWN as error:
                self._missed = True
                log.debug("Redis not reachable: %s", error)
                await self._drop_pubsub()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                continue
            delay = RETRY_FIRST_SECONDS
            try:
                await self._read()
            except REDIS_DOWN:
                pass
            self._mark_down()
            self._missed = True
            await self._drop_pubsub()

    async def _connect(self) -> None:
        self._lost.clear()
        pubsub = self._sub_client.pubsub(ignore_subscribe_messages=True)
        self._pubsub = pubsub
        # An empty subscription would not open the connection: one channel always exists.
        names = list(self._handlers)
        await pubsub.subscribe(self.prefix.encode() + b"bus:alive", *names)
        # Wait for the confirmations, so `up` means "subscribed", not just "sent".
        expected = 1 + len(names)
        pubsub.ignore_subscribe_messages = False
        while expected:
            message = await pubsub.get_message(timeout=CONNECT_SECONDS)
            if message is None:
                raise RedisTimeoutError("no subscribe confirmation")
            if message["type"] == "subscribe":
                expected -= 1
        pubsub.ignore_subscribe_messages = True
        added = [name for name in self._handlers if name not in names]
        if added:  # subscribe() was called while we connected
            await pubsub.subscribe(*added)
        # Pooled command connections may be to a Redis that has since restarted.
        await self.redis.connection_pool.disconnect()
        self.up = True
        self._connected_once.set()
        if self._missed:
            self._missed = False
            log.warning("Redis is back: live frames cross instances again")
            for callback in list(self._restored):
                try:
                    result = callback()
                    if inspect.isawaitable(result):
                        await result
                except Exception:  # one failing listener does not stop the others
                    log.exception("on_restored callback failed")

    async def _read(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        # Silence is counted in unanswered pings, not in seconds: a process that was paused
        # (SIGSTOP, a frozen VM) finds its clock far ahead on waking, but Redis kept what
        # was published meanwhile, and it arrives with the next read.
        unanswered = 0
        while not self._lost.is_set():
            message = await pubsub.get_message(timeout=IDLE_PING_SECONDS)
            if message is None:
                if unanswered >= SILENT_PINGS:
                    raise RedisTimeoutError("the subscription went silent")
                await pubsub.ping()
                unanswered += 1
                continue
            unanswered = 0
            self.up = True  # the subscription hears Redis (after a failed publish, too)
            if message["type"] != "message":
                continue
            for handler in self._handlers.get(message["channel"], ()):
                try:
                    handler(message["data"])
                except Exception:  # one failing handler does not stop the fan-out
                    log.exception("bus handler for %r failed", message["channel"])

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except REDIS_DOWN:
                pass
