"""Several instances on Redis (REDIS_URL; docs/deployment.md): the chat writer's role and the
forwarding to it, and what each instance adds to the services built for one process, so the
instances act as one server.

Without REDIS_URL none of this is built and nothing on the hot path changes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Protocol

import asyncpg

from ..chat_writer_role import ChatWriterRole
from ..domain.accounts.service import Accounts
from ..domain.blogs.service import Blogs
from ..domain.chat.service import ChatService
from ..leases import new_holder
from ..settings import Settings
from ..storage.cached_users import CachedUserRepository
from ..storage.mongo.chat_store import MongoChatStore
from ..storage.postgres.leases import PgLeases
from ..storage.redis.bus import RedisBus
from ..storage.redis.chat_forwarding import ChatCommandServer, ForwardedChat, relay_replies
from ..storage.redis.limits import SharedLimits
from ..storage.redis.online import RedisOnlineSets
from ..storage.redis.relay import Relay
from ..ws.cluster import HubAcrossInstances
from ..ws.hub import Hub
from .cluster_chat import ClusterChat

log = logging.getLogger("nirvana.instances")

REVOCATIONS_EVERY = 1.0  # seconds; a session ended on one instance closes sockets on all
# At the writer's stop, how long its last forwarded commands may take to be answered before
# it says it let go (the others answer what is left `unavailable`).
STOP_SETTLE = 1.0


class ProcessServices(Protocol):
    """What joining the instances needs of the services built for one process
    (bootstrap.Services), which joins them once built."""

    settings: Settings
    hub: Hub
    chat: ChatService  # a ClusterChat (its stand-in) when the instances share a chat writer
    accounts: Accounts
    blogs: Blogs
    shared_limits: SharedLimits | None

    def start_background(self, name: str, work: Awaitable[Any]) -> None: ...


class Instances:
    """This instance's part in a deployment of several: the bus and what runs on it."""

    def __init__(self, bus: RedisBus, relay: Relay, hub: HubAcrossInstances,
                 online: RedisOnlineSets, *, owns_bus: bool,
                 chat: ClusterChat | None = None) -> None:
        self.bus = bus
        self.relay = relay
        self.hub = hub
        self.online = online  # whose live keys say which instances run
        self._owns_bus = owns_bus
        self._chat = chat

    async def close(self) -> None:
        await self.hub.stop()
        await self.relay.flush()  # the last "off"s and the "bye" of a clean stop
        if self._owns_bus:
            await self.bus.close()

    async def last_words(self, *, chat_writer_left: bool) -> None:
        """At a clean stop, once the chat store refused what it held (and before the bus
        closes and the writer lease is given back): what the relay still queues goes out
        (the run task was cancelled). If this instance was the chat writer, its last
        answers first, then the word that it let go, so the other instances answer what
        still waits `unavailable` at once, not at their forwarding timeout
        (docs/cluster-chat.md, Failover)."""
        if chat_writer_left and self._chat is not None and self._chat.server is not None:
            await self._chat.server.settle(STOP_SETTLE)
            self._chat.forwarded.writer_changed()
        await self.relay.flush()


def bus_prefix(mongodb_db: str) -> str:
    """Channels and keys of one deployment: the instances sharing its databases."""
    return f"nirvana:{mongodb_db}:"


def reserver(bus: RedisBus) -> Callable[[], str | None]:
    """Whom this instance's upload reservations name: no one while Redis does not answer.
    Others take an instance cut off alone for gone once its live key lapses; what it reserves
    meanwhile waits for the hour-old sweep instead of being given back under its uploads."""
    return lambda: bus.instance_id if bus.up else None


def cluster_chat(settings: Settings, pool: asyncpg.Pool, store: MongoChatStore,
                 local: ChatService, users: CachedUserRepository
                 ) -> tuple[RedisBus, ChatWriterRole, ClusterChat]:
    """The bus, the chat writer role and the chat service the edges use (ClusterChat)."""
    assert settings.redis_url is not None
    holder = new_holder()
    bus = RedisBus(settings.redis_url, prefix=bus_prefix(settings.mongodb_db),
                   instance_id=holder)
    # The writer answers a send within twice the store timeout (MongoChatStore.append).
    forwarded = ForwardedChat(bus, timeout=settings.store_timeout * 2 + 1)

    async def lead(may_commit: Callable[[], bool], epoch: int) -> None:
        # The writer checks that each sender still exists (AccountExists): a deletion this
        # instance did not hear of while it followed is read from PostgreSQL, once a user.
        users.forget_all()
        await store.lead(may_commit, epoch)  # may fail: then the role follows again
        local.cache.hold(True)  # empty: the previous writer changed the store
        # Sent to the previous writer, here and (told) on the others: retried here.
        forwarded.writer_changed()

    async def follow() -> None:
        local.cache.hold(False)  # the writer's changes do not pass here
        await store.follow(forwarded.head)

    role = ChatWriterRole(PgLeases(pool), holder, lead=lead, follow=follow,
                          url=settings.base_url,
                          stepped_down=lambda: store.writer.stepped_down)
    server = ChatCommandServer(bus, local, role.is_writer)
    return bus, role, ClusterChat(local, forwarded, role.is_writer, server)


async def join_instances(services: ProcessServices, bus: RedisBus | None = None) -> Instances:
    """`bus`: one the wiring already made (and closes), to share; else one of our own."""
    settings = services.settings
    assert settings.redis_url is not None
    owns_bus = bus is None
    if bus is None:
        bus = RedisBus(settings.redis_url, prefix=bus_prefix(settings.mongodb_db),
                       instance_id=new_holder())
    relay = Relay(bus)
    online = RedisOnlineSets(bus, relay)
    hub = HubAcrossInstances(services.hub, relay, online,
                             bus_up=lambda: bus.up)
    bus.on_restored(hub.restored)
    _share_caches(services, bus, relay)
    chat = services.chat if isinstance(services.chat, ClusterChat) else None
    if chat is not None and chat.server is not None:
        # The chat writer's answers behind the frames of the events they caused: a sender
        # elsewhere gets its own newMessage before its ack, as on one process.
        relay_replies(chat.server, chat.forwarded, relay)
    if services.shared_limits is not None:
        services.shared_limits.attach(relay)
    await bus.start()
    services.start_background("relay", relay.run())
    services.start_background("hub-heartbeat", hub.run())
    services.start_background("revocations", _reload_revocations(services))
    _log_joined(bus)
    return Instances(bus, relay, hub, online, owns_bus=owns_bus, chat=chat)


def _log_joined(bus: RedisBus) -> None:
    """Logged when it is true: at once, or, after a start without Redis (bus.start said it
    runs degraded), when Redis first answers."""
    def joined() -> None:
        log.info("joined the instances on Redis as %s", bus.instance_id)

    if bus.up:
        joined()
        return
    waiting = [True]

    def first_restored() -> None:
        if waiting:
            waiting.clear()
            joined()
    bus.on_restored(first_restored)


def _share_caches(services: ProcessServices, bus: RedisBus, relay: Relay) -> None:
    """What one instance changes, the others' caches drop: users, and the versions the page
    cache of anonymous blog reads compares against (a page built before a write on any
    instance is not served once the write is heard). The chat cache needs nothing: only the
    chat writer's instance holds one (wiring/cluster_chat.py)."""
    users = services.accounts.users
    if isinstance(users, CachedUserRepository):
        users.changed = lambda user_id: relay.send(["uf", user_id])
        relay.on("uf", lambda sender, op: users.changed_elsewhere(op[1]))
    versions = services.blogs.versions
    versions.on_move = lambda kind, blog_id: relay.send(["bv", kind, blog_id])
    relay.on("bv", lambda sender, op: versions.moved_elsewhere(op[1], op[2]))

    def missed() -> None:
        # This instance missed what the others told (Redis was lost), or another could not
        # tell (a gap): every kept user and page is read again.
        if isinstance(users, CachedUserRepository):
            users.forget_all()
        versions.moved_elsewhere("wrote", None)
    bus.on_restored(missed)
    relay.on("gap", lambda sender, op: missed())


async def _reload_revocations(services: ProcessServices) -> None:
    # Sign-outs, password changes, suspensions and deletions on another instance reach
    # this one's token checks and sockets from PostgreSQL, the store of record: also
    # while Redis is down, for three indexed reads a second.
    while True:
        await asyncio.sleep(REVOCATIONS_EVERY)
        try:
            await services.accounts.load_revocations()
        except Exception:
            log.warning("reloading revocations failed", exc_info=True)
