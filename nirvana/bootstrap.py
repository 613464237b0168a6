"""Wiring: the one place that builds real adapters from settings and hands them to the domain.

`open_services` is used by the app's lifespan (run.py) and by the test harness, which passes
the URLs of the servers it started.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Awaitable, Callable

import asyncpg
from beanie import init_beanie
from pymongo import AsyncMongoClient

from .domain.accounts.policy import AccountPolicy
from .domain.accounts.service import Accounts
from .domain.ratelimit import Limit
from .domain.uploads import MediaStore, UploadLimits, Uploads
from .domain.social.events import FriendshipChanged, SocialEvent
from .domain.blogs.events import BlogEvent
from .domain.notifications.entities import Change
from .domain.notifications.service import Notifications
from .domain.social.graph import SocialGraph
from .blog_publisher import ScheduledPublisher
from .domain.blogs.live import LiveNewPosts
from .domain.blogs.service import Blogs
from .domain.clock import Clock
from .domain.chat.limits import ChatLimits
from .domain.chat.entities import Peer
from .domain.chat.service import ChatService
from .domain.presence import Presence
from .domain.accounts.users import User
from .http.auth import Authenticator
from .http.page_cache import PageCache
from .metrics import NO_WRITER_OBSERVER, CountingPublisher, Metrics
from .security import Argon2Hasher, HmacSigner, JwtAccessTokens, PyotpTotp, SystemClock
from .instance_guard import InstanceClaim, claim_instance
from .leases import HeldLease, new_holder
from .chat_writer_role import ChatWriterRole
from .cluster_chat import ClusterChat
from .storage.redis.bus import RedisBus
from .storage.redis.chat_forwarding import ChatCommandServer, ForwardedChat
from .instances import Instances, join_instances
from .storage.redis.limits import SharedLimits
from .settings import Settings
from .storage.cached_users import CachedUserRepository
from .storage.mail import OutboxMailer, SmtpMailer
from .storage.mail_sender import MailSender
from .storage.postgres.mail_outbox import PgMailOutbox
from .storage.mongo.documents import DOCUMENTS as CHAT_DOCUMENTS
from .storage.mongo.chat_store import MongoChatStore
from .storage.mongo.changes import MongoChatChanges
from .storage.mongo.presence import DOCUMENTS as PRESENCE_DOCUMENTS
from .storage.mongo.presence import MongoPresenceStore
from .storage.postgres.pool import create_pool, migrate
from .storage.postgres.leases import PgLeases
from .storage.media import CloudinaryMediaStore, LocalMediaStore
from .storage.postgres.uploads import PgUploadLedger
from .storage.postgres.accounts import (
    PgDeletedAccounts,
    PgPasswordResetStore,
    PgRefreshTokenStore,
    PgUserRepository,
)
from .storage.postgres.sessions import PgSessionStore
from .storage.postgres.two_factor import PgTwoFactorStore
from .storage.postgres.exports import PgAccountRecords, PgExportJobs
from .storage.export_archive import LocalExportArchives
from .domain.exports.service import ExportPolicy, Exports
from .export_worker import ExportWorker
from .domain.accounts.two_factor import SecondFactor, TwoFactorSettings
from .storage.mongo.erasure import MongoChatErasure
from .account_deletion import (
    AccountEventFanOut,
    AfterAccountDeletion,
    ChatOfDeletedAccounts,
    ErasersInTurn,
    UploadsOfDeletedAccounts,
)
from .domain.accounts.deletion import Erasure
from .domain.accounts.standing import OpenGate, VerifiedEmailGate, WriteGate
from .storage.postgres.social import PgPublishedBlogCounter, PgSocialRepository
from .storage.postgres.blog_comments import PgCommentRepository
from .storage.postgres.blogs import PgBlogRepository
from .storage.postgres.new_post_readers import PgNewPostReaders
from .storage.postgres.chat_peers import PgChatPeers
from .storage.postgres.notifications import (
    PgContacts,
    PgNotificationAudience,
    PgNotificationStore,
)
from .storage.postgres.notification_preferences import PgMuteStore, PgPreferenceStore
from .domain.notifications.mailing import NotificationMail
from .domain.notifications.preferences import Preferences
from .missed_messages import ChatPublishers, MissedMessages
from .chat_group_notices import ChatGroupNotices
from .chat_mentions import ChatMentions
from .ws.events import NotificationEvent, NotificationsUnread, encode
from .ws.hub import Hub
from .ws.new_posts import NewPostsToSockets
from .ws.notification_frames import NotificationOut
from .ws.session_watch import SessionWatch
from .ws.close_codes import CloseCode
from .ws.protocol import Limits
from .domain.moderation.service import Moderation
from .domain.moderation.suspension import SuspensionGate
from .domain.ratelimit import SlidingWindowLimiter
from .moderation_content import ModeratedContent, ReportNotifications
from .storage.postgres.moderation import PgModerationStore

log = logging.getLogger("nirvana")

# Beanie document classes; the chat storage adds its own.
DOCUMENT_MODELS: list[Any] = [*CHAT_DOCUMENTS, *PRESENCE_DOCUMENTS]


def load_or_create_secret(data_dir: Path) -> str:
    path = data_dir / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secret)
    tmp.chmod(0o600)
    tmp.replace(path)
    return secret


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
    blog_events: "BlogEventListeners"
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
    # Erases what deleted accounts left outside PostgreSQL (nirvana/account_deletion.py).
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
    # Several instances on Redis (nirvana/instances.py); None without REDIS_URL.
    instances: "Instances | None" = None
    shared_limits: SharedLimits | None = None

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
        """Called by run.py when a stop is requested, before uvicorn closes connections:
        the place to close open WebSockets with 1001 (going away)."""
        self.hub.close_all(CloseCode.GOING_AWAY, "server stopping; reconnect and resume")
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
        async def loop() -> None:
            while True:
                try:
                    purged = await self.accounts.purge_expired()
                    if purged:
                        log.info("purged expired tokens", extra={"count": purged})
                    if self.erasure is not None:
                        erased = await self.erasure.erase_pending()
                        if erased:
                            log.info("erased deleted accounts", extra={"count": erased})
                except Exception:
                    log.exception("housekeeping failed; retrying at the next interval")
                await asyncio.sleep(every)

        task = asyncio.get_running_loop().create_task(loop(), name="housekeeping")
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def start_mail_sender(self) -> None:
        """The mail tasks: the outbox's sender, and the mailing of missed chat messages."""
        tasks = [("mail-sender", self.mail_sender.run())]
        if self.settings.missed_message_emails:
            tasks.append(("missed-messages", self.missed_messages.run()))
        for name, work in tasks:
            task = asyncio.get_running_loop().create_task(work, name=name)
            self.background.add(task)
            task.add_done_callback(self.background.discard)

    def start_chat_housekeeping(self, every: float = 3600.0) -> None:
        """Prune durable chat events older than the resume window (ChatLimits)."""
        async def loop() -> None:
            while True:
                try:
                    await self.chat.prune_events()
                except Exception:
                    log.exception("chat event pruning failed; retrying at the next interval")
                await asyncio.sleep(every)

        task = asyncio.get_running_loop().create_task(loop(), name="chat-housekeeping")
        self.background.add(task)
        task.add_done_callback(self.background.discard)

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
        if self.chat_role is not None:
            try:  # the next writer need not wait for the lease to expire
                await self.chat_role.release()
            except Exception:
                log.warning("releasing the chat writer lease failed", exc_info=True)
        await self.chat_store.close()
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


class PresenceFollowsFriendships:
    """Social events -> the hub: online friend lists follow every friendship that begins or
    ends, so presence never crosses a block, whatever entry point changed it."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def publish(self, event: SocialEvent) -> None:
        if isinstance(event, FriendshipChanged):
            self._hub.relation_changed(event.a, event.b, event.friends)


class NotificationsToSockets:
    """Notification changes -> every connected device of the recipient: the notification
    with the unread count, or the count alone (read, deleted, withdrawn)."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def changed(self, change: Change) -> None:
        if not self._hub.online(change.recipient_id):
            return
        if change.notification is not None:
            event: NotificationEvent | NotificationsUnread = NotificationEvent(
                notification=NotificationOut.of(change.notification), unread=change.unread)
        else:
            event = NotificationsUnread(unread=change.unread)
        self._hub.send_to_user(change.recipient_id, encode(event))


class Listeners:
    """A feature's domain events -> every listener, in order. One failing listener is
    logged and does not stop the others, nor fail the change, which is already stored."""

    def __init__(self, *listeners: Callable[[Any], Awaitable[None]]) -> None:
        self._listeners = listeners

    async def publish(self, event: SocialEvent | BlogEvent) -> None:
        for listener in self._listeners:
            try:
                await listener(event)
            except Exception:
                log.exception("a domain event listener failed",
                              extra={"event": type(event).__name__})


class BlogEventListeners:
    """Blog events -> the features that act on them. A listener may be a plain function or a
    coroutine function; one that fails is logged and does not stop the others: the change is
    already committed."""

    def __init__(self) -> None:
        self.listeners: list[Callable[[BlogEvent], object]] = []

    def subscribe(self, listener: Callable[[BlogEvent], object]) -> None:
        self.listeners.append(listener)

    async def publish(self, event: BlogEvent) -> None:
        for listener in self.listeners:
            try:
                result = listener(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("a blog event listener failed", extra={"blog_id": event.blog_id})


MONGO_MAX_IDLE_MS = 120_000


async def init_documents(mongo: AsyncMongoClient, database: str) -> None:
    """Bind the Beanie documents to `database` and bring its indexes to what they declare.
    The declared indexes are the schema: one a release stops declaring is dropped (an
    unused index still costs every write)."""
    await init_beanie(database=mongo[database], document_models=DOCUMENT_MODELS,
                      allow_index_dropping=True)


async def open_stores(
    settings: Settings, *, database_url: str, mongodb_url: str
) -> tuple[asyncpg.Pool, AsyncMongoClient]:
    """Connect to both stores and bring their schemas up to date."""
    pool = await create_pool(database_url, timeout=settings.store_timeout)
    try:
        await migrate(pool)
        mongo: AsyncMongoClient = AsyncMongoClient(
            mongodb_url,
            tz_aware=True,
            serverSelectionTimeoutMS=int(settings.store_timeout * 1000),
            timeoutMS=int(settings.store_timeout * 1000),
            # The embedded server closes a connection idle for 300 s; a pooled connection
            # older than that failed the first operation after a quiet spell (a 503, or a
            # socket refused with 1013). Pooled connections are replaced after 120 s idle.
            maxIdleTimeMS=MONGO_MAX_IDLE_MS,
        )
        await init_documents(mongo, settings.mongodb_db)
    except BaseException:
        await pool.close()
        raise
    return pool, mongo


def build_services(
    settings: Settings, pool: asyncpg.Pool, mongo: AsyncMongoClient, secret: str,
    clock: Clock | None = None,
) -> Services:
    """Wire the domain to the adapters. Cheap and free of I/O: tests build one per test
    (and may pass a clock they move)."""
    clock = clock if clock is not None else SystemClock()
    # Mail is written to the outbox table by what causes it, and sent by the sender task.
    transport = (
        SmtpMailer(settings.smtp_url, settings.mail_from)
        if settings.smtp_url
        else OutboxMailer(settings.data_dir / "outbox", settings.mail_from)
    )
    account_events = AccountEventFanOut()
    mail_outbox = PgMailOutbox(pool)
    mailer = mail_outbox
    signer = HmacSigner(secret)
    second_factor = SecondFactor(store=PgTwoFactorStore(pool), totp=PyotpTotp(),
                                 signer=signer, clock=clock)
    users = CachedUserRepository(PgUserRepository(pool))
    # Several instances (REDIS_URL): rate limits kept in step between them.
    shared_limits = SharedLimits(clock) if settings.redis_url is not None else None
    limiter = (shared_limits.limiter if shared_limits is not None
               else lambda limit: SlidingWindowLimiter(limit, clock))
    moderation_store = PgModerationStore(pool, role_changed=users.forget)
    accounts = Accounts(
        users=users,
        refresh_tokens=PgRefreshTokenStore(pool),
        sessions=PgSessionStore(pool),
        resets=PgPasswordResetStore(pool),
        hasher=Argon2Hasher(),
        tokens=JwtAccessTokens(secret, clock, ttl=timedelta(seconds=settings.access_token_ttl)),
        mailer=mailer,
        clock=clock,
        signer=signer,
        policy=AccountPolicy(
            access_ttl=timedelta(seconds=settings.access_token_ttl),
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl),
            reset_ttl=timedelta(seconds=settings.reset_token_ttl),
            base_url=settings.base_url,
            sign_up_per_ip=Limit(settings.signups_per_ip_hour, 3600),
        ),
        events=account_events,
        second_factor=second_factor,
        sign_in_gate=SuspensionGate(moderation_store, clock),
        limiter=limiter,
    )
    write_gate: WriteGate = (OpenGate() if settings.unverified_may_write
                             else VerifiedEmailGate(accounts.users))
    local_media = LocalMediaStore(settings.data_dir / "media")
    media: MediaStore = (
        CloudinaryMediaStore(settings.cloudinary_url, timeout=max(settings.store_timeout, 30))
        if settings.cloudinary_url
        else local_media
    )
    upload_ledger = PgUploadLedger(pool)
    uploads = Uploads(media, upload_ledger, UploadLimits(
        image=settings.max_upload_bytes, audio=settings.max_audio_bytes,
        video=settings.max_video_bytes, file=settings.max_file_bytes,
        quota=settings.storage_quota_bytes))
    peers = PgChatPeers(pool)
    chat_limits = ChatLimits()
    # Measured only when /metrics can be scraped (METRICS_TOKEN): nothing to pay otherwise.
    metrics = Metrics() if settings.metrics_token else None
    chat_store = MongoChatStore(
        timeout=settings.store_timeout,
        observer=metrics.chat_writer if metrics else NO_WRITER_OBSERVER)
    changes = MongoChatChanges(chat_store)
    presence_store = MongoPresenceStore()
    presence = Presence(store=presence_store, peers=peers, changes=changes, clock=clock)
    hub = Hub(peers, typing_ttl=chat_limits.typing_ttl_seconds, presence=presence)
    preferences = Preferences(PgPreferenceStore(pool), PgMuteStore(pool))
    notification_mail = NotificationMail(
        outbox=mail_outbox, signer=HmacSigner(secret, purpose="unsubscribe"),
        contacts=PgContacts(pool), devices=hub, preferences=preferences,
        base_url=settings.base_url)
    missed = MissedMessages(
        pool=pool, chat=chat_store, mail=notification_mail, outbox=mail_outbox,
        preferences=preferences, audience=PgNotificationAudience(pool), blocks=peers,
        clock=clock, delay=timedelta(seconds=settings.missed_message_delay))
    live_chat = CountingPublisher(hub, metrics) if metrics else hub
    # What a stored message is handed to: the hub, then the missed-message tracker and the
    # chat mentions (watched below, once the notifications exist).
    publishers = ChatPublishers(live_chat)
    if settings.missed_message_emails:
        publishers.watch(missed)
    chat = ChatService(store=chat_store, changes=changes, peers=peers,
                       publisher=publishers,
                       clock=clock, limits=chat_limits, write_gate=write_gate,
                       uploads=upload_ledger)
    bus = chat_role = None
    if settings.redis_url is not None:
        # Several instances: one runs the chat writer, the others forward to it (cluster_chat.py).
        bus, chat_role, chat = cluster_chat(settings, pool, chat_store, chat)
    if metrics:
        metrics.count_websockets(lambda: len(hub.connections()))
        metrics.watch_websocket_queues(hub.queued_bytes, hub.queued_frames)
    notifications = Notifications(store=PgNotificationStore(pool),
                                  audience=PgNotificationAudience(pool), clock=clock,
                                  live=NotificationsToSockets(hub), preferences=preferences,
                                  mail=notification_mail)
    publishers.watch(ChatMentions(notifications))
    publishers.watch(ChatGroupNotices(notifications))
    blog_events = BlogEventListeners()
    blog_events.subscribe(notifications.handle)
    # MySocial's "add post": followers with a socket open hear of a new blog at once.
    blog_events.subscribe(LiveNewPosts(PgNewPostReaders(pool), NewPostsToSockets(hub)).handle)
    blogs = Blogs(blogs=PgBlogRepository(pool), comments=PgCommentRepository(pool), clock=clock,
                  write_gate=write_gate, events=blog_events)
    erasure = Erasure(ErasersInTurn(ChatOfDeletedAccounts(MongoChatErasure(), chat.cache),
                                    UploadsOfDeletedAccounts(upload_ledger, local_media,
                                                             uploads)),
                      PgDeletedAccounts(pool), clock)
    background: set[asyncio.Task] = set()
    account_events.listeners.append(AfterAccountDeletion(
        blogs, erasure, background,
        outbox=transport if isinstance(transport, OutboxMailer) else None))
    export_worker = ExportWorker()
    export_archives = LocalExportArchives(settings.data_dir / "exports", local_media)
    exports = Exports(jobs=PgExportJobs(pool), records=PgAccountRecords(pool), chat=chat,
                      archives=export_archives, notifier=notifications, mailer=mailer,
                      clock=clock, policy=ExportPolicy(base_url=settings.base_url),
                      on_request=export_worker.wake)
    export_worker.exports = exports
    account_events.listeners.append(export_worker)
    social = SocialGraph(PgSocialRepository(pool), PgPublishedBlogCounter(pool),
                         events=Listeners(PresenceFollowsFriendships(hub).publish,
                                          notifications.handle))
    moderation = Moderation(store=moderation_store,
                            content=ModeratedContent(blogs, chat, social, users),
                            sessions=accounts, notices=ReportNotifications(notifications),
                            clock=clock)
    return Services(
        settings=settings,
        pool=pool,
        mongo=mongo,
        accounts=accounts,
        two_factor=TwoFactorSettings(second_factor, accounts, clock),
        authenticator=Authenticator(accounts, settings.trusted_origins),
        clock=clock,
        social=social,
        uploads=uploads,
        local_media=local_media,
        blogs=blogs,
        blog_events=blog_events,
        publisher=ScheduledPublisher(blogs, clock),
        chat=chat,
        chat_store=chat_store,
        notifications=notifications,
        mail_sender=MailSender(mail_outbox, transport, clock),
        missed_messages=missed,
        hub=hub,
        ws_limits=Limits(outgoing_queue_bytes=settings.ws_queue_bytes,
                         user_queue_bytes=max(settings.ws_user_queue_bytes,
                                              settings.ws_queue_bytes)),
        session_watch=SessionWatch(accounts.revocations),
        presence_store=presence_store,
        metrics=metrics,
        erasure=erasure,
        exports=exports,
        export_archives=export_archives,
        export_worker=export_worker,
        background=background,
        moderation=moderation,
        write_limiter=limiter(Limit(settings.writes_per_minute, 60)),
        shared_limits=shared_limits,
        bus=bus,
        chat_role=chat_role,
    )


def cluster_chat(settings: Settings, pool: asyncpg.Pool, store: MongoChatStore,
                 local: ChatService) -> tuple[RedisBus, ChatWriterRole, Any]:
    """The bus, the chat writer role and the chat service the edges use (ClusterChat)."""
    assert settings.redis_url is not None
    holder = new_holder()
    bus = RedisBus(settings.redis_url, prefix=f"nirvana:{settings.mongodb_db}:",
                   instance_id=holder)
    # The writer answers a send within twice the store timeout (MongoChatStore.append).
    forwarded = ForwardedChat(bus, timeout=settings.store_timeout * 2 + 1)

    async def lead(may_commit: Callable[[], bool]) -> None:
        local.cache.hold(True)  # empty: the previous writer changed the store
        await store.lead(may_commit)
        forwarded.fail_pending()  # sent to the previous writer: retried here

    async def follow() -> None:
        local.cache.hold(False)  # the writer's changes do not pass here
        await store.follow(forwarded.head)

    role = ChatWriterRole(PgLeases(pool), holder, lead=lead, follow=follow,
                          url=settings.base_url)
    server = ChatCommandServer(bus, local, role.is_writer)
    return bus, role, ClusterChat(local, forwarded, role.is_writer, server)


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
        services.start_background("instance-lease", held.run())
    await services.accounts.load_revocations()
    # Several instances (REDIS_URL): frames, presence, limits and caches cross them.
    if settings.redis_url is not None:
        services.instances = await join_instances(services, bus=services.bus)
    services.start_housekeeping()
    if services.bus is not None and services.chat_role is not None:
        await services.bus.start()
        await services.chat_role.start()
        services.start_background("chat-writer-lease", services.chat_role.run())
    services.start_chat_housekeeping()
    services.start_publisher()
    services.start_mail_sender()
    services.start_export_worker()
    return services
