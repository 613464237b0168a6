"""The composition of Nirvana's services: the one place that knows every piece, and the
order in which they open and close. Each concept is wired in its own module under
`nirvana/wiring/`; this file puts them together.

`open_services` is used by the app's lifespan (run.py) and by the test harness, which passes
the URLs of the servers it started.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Sequence

import asyncpg
from pymongo import AsyncMongoClient

from .blog_publisher import ScheduledPublisher
from .chat_writer_role import ChatWriterRole
from .domain.accounts.deletion import Erasure
from .domain.accounts.ports import PasswordHasher
from .domain.accounts.service import Accounts
from .domain.accounts.two_factor import TwoFactorSettings
from .domain.accounts.users import User
from .domain.blogs.service import Blogs
from .domain.chat.entities import Peer
from .domain.chat.service import ChatService
from .domain.clock import Clock
from .domain.exports.service import Exports
from .domain.moderation.service import Moderation
from .domain.notifications.service import Notifications
from .domain.ratelimit import Limit, SlidingWindowLimiter
from .domain.social.graph import SocialGraph
from .domain.upload_sweep import (GONE_EVERY, SWEEP_EVERY, GoneInstances, Reservers,
                                  give_back_of_others, sweep)
from .domain.uploads import Uploads
from .export_worker import ExportWorker
from .http.auth import Authenticator
from .http.page_cache import PageCache
from .instance_guard import InstanceClaim, claim_instance
from .leases import HeldLease
from .metrics import Metrics
from .missed_messages import MissedMessages
from .moderation_content import ModeratedContent, ReportNotifications
from .security import SystemClock
from .settings import Settings
from .storage.export_archive import LocalExportArchives
from .storage.mail_sender import MailSender
from .storage.media import LocalMediaStore
from .storage.mongo.chat_store import MongoChatStore
from .storage.mongo.presence import MongoPresenceStore
from .storage.postgres.blog_comments import PgCommentRepository
from .storage.postgres.blogs import PgBlogRepository
from .storage.postgres.leases import PgLeases
from .storage.postgres.social import PgPublishedBlogCounter, PgSocialRepository
from .storage.redis.bus import RedisBus
from .storage.redis.limits import SharedLimits
from .tasks import repeat, retry
from .wiring.account_deletion import RETRY_WAITS, AfterAccountDeletion
from .wiring.accounts import build_accounts, build_erasure, build_exports
from .wiring.chat import build_chat
from .wiring.events import EventListeners, blog_event_listeners, social_event_listeners
from .wiring.instances import Instances, join_instances, reserver
from .wiring.mail import build_mail
from .wiring.media import build_media
from .wiring.notifications import build_notifications
from .wiring.stores import open_stores
from .ws.close_codes import CloseCode
from .ws.hub import Hub
from .ws.protocol import Limits
from .ws.session_watch import SessionWatch

log = logging.getLogger("nirvana")


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    mongo: AsyncMongoClient
    accounts: Accounts
    two_factor: TwoFactorSettings
    # Data exports, built in the background (nirvana/export_worker.py).
    exports: Exports
    export_archives: LocalExportArchives
    export_worker: ExportWorker
    authenticator: Authenticator
    clock: Clock
    social: SocialGraph
    uploads: Uploads
    # Always there, even with Cloudinary: files stored locally before a switch stay served.
    local_media: LocalMediaStore
    blogs: Blogs
    # Who hears of blog events (BlogPublished, reactions, comments): notifications and the
    # live new-post fan-out subscribe here.
    blog_events: EventListeners
    publisher: ScheduledPublisher
    chat: ChatService
    chat_store: MongoChatStore
    notifications: Notifications
    mail_sender: MailSender
    missed_messages: MissedMessages
    hub: Hub
    ws_limits: Limits
    session_watch: SessionWatch
    # Buffers last_seen writes; flushed on stop (see storage/mongo/presence.py).
    presence_store: MongoPresenceStore | None = None
    background: set[asyncio.Task] = field(default_factory=set)
    # Anonymous blog lists as serialised bytes (see nirvana/http/page_cache.py).
    page_cache: PageCache = field(default_factory=PageCache)
    metrics: Metrics | None = None  # None unless METRICS_TOKEN is set (nirvana/metrics.py)
    # Erases what deleted accounts left outside PostgreSQL (wiring/account_deletion.py).
    erasure: Erasure | None = None
    # Reports, actions, roles and the audit log (domain/moderation).
    moderation: Moderation | None = None
    # Every state-changing request of a signed-in user counts here (WRITES_PER_MINUTE).
    write_limiter: SlidingWindowLimiter | None = None
    # The single-instance lease (nirvana/instance_guard.py); None with REDIS_URL and in tests.
    instance_lease: HeldLease | None = None
    # With REDIS_URL: the bus between instances and who runs the chat writer (ClusterChat).
    bus: RedisBus | None = None
    chat_role: ChatWriterRole | None = None
    # Several instances on Redis (nirvana/wiring/instances.py); None without REDIS_URL.
    instances: Instances | None = None
    shared_limits: SharedLimits | None = None
    # Who made each upload's reservation (domain/upload_sweep.py): the uploads' ledger.
    upload_reservers: Reservers | None = None

    async def profile_changed(self, user: User) -> None:
        """Called after a profile change: friends and conversation peers who are online get
        `profile.updated` live. Best effort: the change itself is already stored."""
        if self.hub.presence is None:
            return
        try:
            await self.hub.presence.profile_changed(
                Peer(user.id, user.name, user.username, user.avatar_url, user.status))
        except Exception:
            log.warning("live profile update failed", exc_info=True)

    async def before_shutdown(self) -> None:
        """Called by run.py when a stop is requested, once it stopped listening and before
        uvicorn closes connections: the place to close WebSockets with 1001 (going away),
        the open ones and any upgrade still arriving."""
        self.hub.stop(CloseCode.GOING_AWAY, "server stopping; reconnect and resume")
        # Give the sender tasks a moment to put the close frames on the wire.
        for _ in range(20):
            if not self.hub.connections():
                break
            await asyncio.sleep(0.05)
        if self.hub.presence is not None:
            await self.hub.presence.drain()
        if self.presence_store is not None:
            await self.presence_store.flush()  # the offline times of the sockets just closed

    async def run_quietly(self, work: Awaitable[Any]) -> None:
        # For work after a response (e.g. the reset mail): its failure is logged, and the
        # client, who already has its answer, is not told.
        try:
            await work
        except Exception:
            log.exception("background work failed")

    async def ping_postgres(self) -> None:
        async with asyncio.timeout(2):
            await self.pool.fetchval("SELECT 1")

    async def ping_mongo(self) -> None:
        async with asyncio.timeout(2):
            await self.mongo.admin.command("ping")

    def start_housekeeping(self, every: float = 3600.0) -> None:
        self.start_background("housekeeping", repeat(self._housekeeping, every, "housekeeping"))

    async def _housekeeping(self) -> None:
        purged = await self.accounts.purge_expired()
        if purged:
            log.info("purged expired tokens", extra={"count": purged})
        if self.erasure is not None:
            erased = await self.erasure.erase_pending()
            if erased:
                log.info("erased deleted accounts", extra={"count": erased})

    def start_upload_sweep(self, every: float = SWEEP_EVERY) -> None:
        """Remove what uploads cut off by a crash left (domain/upload_sweep.py), now and
        then every `every` seconds; and give back the bytes reserved by a process known
        gone: at the start of a single instance (it holds the lease), or on Redis once an
        instance's live key has lapsed (GONE_GRACE)."""
        self.start_background("upload-sweep",
                              repeat(lambda: sweep(self.uploads), every, "upload sweep"))
        ledger = self.upload_reservers
        if ledger is None:
            return
        if self.instances is not None:
            gone = GoneInstances(ledger, self.instances.online, self.instances.bus.instance_id)
            self.start_background("upload-give-back", repeat(
                gone.give_back, GONE_EVERY, "giving back the uploads of instances gone"))
        elif self.instance_lease is not None:
            held = self.instance_lease
            self.start_background("upload-give-back", retry(
                lambda: give_back_of_others(ledger, held.lease.holder, held.taken_at),
                RETRY_WAITS, "giving back the uploads of the process before"))

    def start_mail_sender(self) -> None:
        """The mail tasks: the outbox's sender, and the mailing of missed chat messages."""
        self.start_background("mail-sender", self.mail_sender.run())
        if self.settings.missed_message_emails:
            self.start_background("missed-messages", self.missed_messages.run())

    def start_chat_housekeeping(self, every: float = 3600.0) -> None:
        """Prune durable chat events older than the resume window (ChatLimits)."""
        self.start_background("chat-housekeeping",
                              repeat(self.chat.prune_events, every, "chat event pruning"))

    def start_export_worker(self) -> None:
        """Build exports asked for (also before a restart); delete expired archives."""
        self.start_background("export-worker", self.export_worker.run())

    def start_publisher(self) -> None:
        """Publish scheduled blogs at their time (nirvana/blog_publisher.py)."""
        self.start_background("scheduled-publisher", self.publisher.run())

    def start_background(self, name: str, work: Awaitable[Any]) -> None:
        """Run `work` until close() cancels it."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def close(self) -> None:
        for task in list(self.background):
            task.cancel()
        await self.notifications.settled()  # a batch of likes is written before the pool goes
        await self.uploads.settled()  # a deletion's ledger row follows its file before it goes
        if self.hub.presence is not None:
            await self.hub.presence.close()
        await self.session_watch.close()
        if self.instances is not None:
            try:
                await self.instances.close()
            except Exception:
                log.warning("leaving the instances on Redis failed", exc_info=True)
        if self.presence_store is not None:
            try:
                await self.presence_store.close()
            except Exception:  # the store may be down at stop; what is lost is a last_seen
                log.warning("presence flush at stop failed", exc_info=True)
        led = self.chat_role is not None and self.chat_role.is_writer()
        # The commit in progress lands (storage/mongo/landing.py) while this instance still
        # leads: its lease check holds, and a batch with a retry in it is sorted out, not
        # refused as a deposed writer's would be. Nothing new is taken from here.
        try:
            await self.chat_store.stop_taking()
            if self.chat_role is not None:
                try:  # nothing commits past this point; the lease is kept until the last words
                    await self.chat_role.step_down()
                except Exception:
                    log.warning("stepping down as the chat writer failed", exc_info=True)
            await self.chat_store.close()  # what is left is refused `unavailable`
            if self.instances is not None:
                # Last answers and frames; "let go" only while the kept lease still holds by
                # this clock: past it another may lead, and the word would fail its commands.
                left = led and self.chat_role is not None and self.chat_role.still_holds()
                try:
                    await self.instances.last_words(chat_writer_left=left)
                except Exception:
                    log.warning("the last words to the instances failed", exc_info=True)
        finally:
            if self.chat_role is not None:
                try:  # last: no writer leads before the words above were published
                    await self.chat_role.give_back()
                except Exception:
                    log.warning("releasing the chat writer lease failed", exc_info=True)
        if self.bus is not None:
            await self.bus.close()
        if self.instance_lease is not None:
            # Last before the pool: the next start need not wait for the lease to expire.
            try:
                await self.instance_lease.release()
            except Exception:
                log.warning("releasing the instance lease failed", exc_info=True)
        # Shielded: closing the pool must finish even if shutdown is cancelled, or PostgreSQL
        # keeps the backends until their sockets time out.
        await asyncio.shield(self.pool.close())
        await self.mongo.close()


def build_services(
    settings: Settings, pool: asyncpg.Pool, mongo: AsyncMongoClient, secret: str,
    clock: Clock | None = None, erasure_retry_waits: Sequence[float] = RETRY_WAITS,
    *, hasher: PasswordHasher | None = None,
) -> Services:
    """Wire the domain to the adapters. Cheap and free of I/O: tests build one per test
    (and may pass a clock they move, the waits between a failed erasure's tries, and a
    cheaper password hasher). `hasher` is for tests only: no setting reaches it, so a
    deployment always hashes with Argon2Hasher's defaults."""
    clock = clock if clock is not None else SystemClock()
    # Measured only when /metrics can be scraped (METRICS_TOKEN): nothing to pay otherwise.
    metrics = Metrics() if settings.metrics_token else None
    mail = build_mail(settings, pool, clock)
    people = build_accounts(settings, pool, secret, clock, mail.outbox, hasher=hasher)
    accounts = people.accounts
    media = build_media(settings, pool)
    chat = build_chat(settings, pool, clock, metrics, people.write_gate, people.users,
                      accounts.revocations, media.ledger)
    told = build_notifications(settings, pool, secret, clock, chat, mail.outbox)
    notifications = told.notifications
    blog_events = blog_event_listeners(pool, notifications, chat.hub)
    blogs = Blogs(blogs=PgBlogRepository(pool), comments=PgCommentRepository(pool), clock=clock,
                  write_gate=people.write_gate, events=blog_events)
    social = SocialGraph(PgSocialRepository(pool), PgPublishedBlogCounter(pool),
                         events=social_event_listeners(chat.hub, notifications))
    # What follows an account's deletion, then its exports' worker, hear of it in turn.
    erasure = build_erasure(pool, clock, chat.service, media)
    background: set[asyncio.Task] = set()
    people.events.listeners.append(
        AfterAccountDeletion(blogs, erasure, background, outbox=mail.eml_directory,
                             retry_waits=erasure_retry_waits))
    exports = build_exports(settings, pool, clock, chat.service, media, notifications,
                            mail.outbox)
    people.events.listeners.append(exports.worker)
    moderation = Moderation(store=people.moderation_store,
                            content=ModeratedContent(blogs, chat.service, social, people.users),
                            sessions=accounts, notices=ReportNotifications(notifications),
                            clock=clock)
    return Services(
        settings=settings,
        pool=pool,
        mongo=mongo,
        accounts=accounts,
        two_factor=people.two_factor,
        authenticator=Authenticator(accounts, settings.trusted_origins, settings.public_url,
                                    clock),
        clock=clock,
        social=social,
        uploads=media.uploads,
        upload_reservers=media.ledger,
        local_media=media.local,
        blogs=blogs,
        blog_events=blog_events,
        publisher=ScheduledPublisher(blogs, clock),
        chat=chat.service,
        chat_store=chat.store,
        notifications=notifications,
        mail_sender=mail.sender,
        missed_messages=told.missed_messages,
        hub=chat.hub,
        ws_limits=Limits(outgoing_queue_bytes=settings.ws_queue_bytes,
                         user_queue_bytes=max(settings.ws_user_queue_bytes,
                                              settings.ws_queue_bytes)),
        session_watch=SessionWatch(accounts.revocations),
        presence_store=chat.presence_store,
        metrics=metrics,
        erasure=erasure,
        exports=exports.exports,
        export_archives=exports.archives,
        export_worker=exports.worker,
        background=background,
        moderation=moderation,
        write_limiter=people.limiter(Limit(settings.writes_per_minute, 60)),
        shared_limits=people.shared_limits,
        bus=chat.bus,
        chat_role=chat.role,
    )


async def open_services(
    settings: Settings, *, database_url: str, mongodb_url: str, secret: str,
    instance: InstanceClaim | None = None,
) -> Services:
    """`instance`: hold the single-instance lease (run.py without REDIS_URL)."""
    pool, mongo = await open_stores(settings, database_url=database_url, mongodb_url=mongodb_url)
    held = None
    if instance is not None:
        try:
            held = await claim_instance(PgLeases(pool), instance.holder, instance.url,
                                        on_lost=instance.on_lost)
        except BaseException:
            await pool.close()
            await mongo.close()
            raise
    services = build_services(settings, pool, mongo, secret)
    if held is not None:
        services.instance_lease = held
        holder = held.lease.holder
        services.uploads.instance = lambda: holder
        services.start_background("instance-lease", held.run())
    await services.accounts.load_revocations()
    # Several instances (REDIS_URL): frames, presence, limits and caches cross them.
    if settings.redis_url is not None:
        services.instances = await join_instances(services, bus=services.bus)
        services.uploads.instance = reserver(services.instances.bus)
    services.start_housekeeping()
    services.start_upload_sweep()
    if services.bus is not None and services.chat_role is not None:
        await services.bus.start()
        await services.chat_role.start()
        services.start_background("chat-writer-lease", services.chat_role.run())
    services.start_chat_housekeeping()
    services.start_publisher()
    services.start_mail_sender()
    services.start_export_worker()
    return services
