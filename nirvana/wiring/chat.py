"""Chat: the store and its writer, presence, the fan-out hub, and the one chat service the
edges call; with REDIS_URL, the chat service that forwards to the instance running the
writer (wiring/instances.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from ..chat_writer_role import ChatWriterRole
from ..domain.accounts.sessions import AccessRevocations
from ..domain.accounts.standing import AccountExists, WriteGate
from ..domain.chat.limits import ChatLimits
from ..domain.chat.service import ChatService
from ..domain.clock import Clock
from ..domain.presence import Presence
from ..metrics import NO_WRITER_OBSERVER, CountingPublisher, Metrics
from ..settings import Settings
from ..storage.cached_users import CachedUserRepository
from ..storage.mongo.changes import MongoChatChanges
from ..storage.mongo.chat_store import MongoChatStore
from ..storage.mongo.presence import MongoPresenceStore
from ..storage.postgres.chat_peers import PgChatPeers
from ..storage.postgres.uploads import PgUploadLedger
from ..storage.redis.bus import RedisBus
from ..ws.hub import Hub
from ..ws.transport import delivery_pass
from .events import ChatPublishers
from .instances import cluster_chat


@dataclass(frozen=True)
class ChatParts:
    # The chat service the edges call: a ChatService, or a ClusterChat with REDIS_URL.
    service: Any
    store: MongoChatStore
    peers: PgChatPeers
    hub: Hub
    # What a stored message is handed to: the hub, then the watchers (missed-message mail,
    # mentions, group notices) that the notifications wiring adds.
    publishers: ChatPublishers
    # Buffers last_seen writes; flushed on stop (see storage/mongo/presence.py).
    presence_store: MongoPresenceStore
    # With REDIS_URL: the bus between instances and who runs the chat writer.
    bus: RedisBus | None
    role: ChatWriterRole | None


def build_chat(settings: Settings, pool: asyncpg.Pool, clock: Clock, metrics: Metrics | None,
               write_gate: WriteGate, users: CachedUserRepository,
               revocations: AccessRevocations, uploads: PgUploadLedger) -> ChatParts:
    peers = PgChatPeers(pool)
    limits = ChatLimits()
    store = MongoChatStore(
        timeout=settings.store_timeout,
        # The embedded store (no MONGODB_URL) needs no auth or TLS: the writer's inserts
        # skip pymongo's per-command work (storage/mongo/wire.py).
        own_connection=settings.mongodb_url is None,
        observer=metrics.chat_writer if metrics else NO_WRITER_OBSERVER,
        # Each socket writes its frames of a stretch of answers at once (ws/transport.py).
        delivery_pass=delivery_pass)
    changes = MongoChatChanges(store)
    presence_store = MongoPresenceStore()
    presence = Presence(store=presence_store, peers=peers, changes=changes, clock=clock)
    hub = Hub(peers, typing_ttl=limits.typing_ttl_seconds, presence=presence)
    publishers = ChatPublishers(CountingPublisher(hub, metrics) if metrics else hub)
    chat: Any = ChatService(store=store, changes=changes, peers=peers, publisher=publishers,
                            clock=clock, limits=limits, write_gate=write_gate,
                            account_gate=AccountExists(users, revocations),
                            uploads=uploads)
    bus = role = None
    if settings.redis_url is not None:
        # Several instances: one runs the chat writer, the others forward to it.
        bus, role, chat = cluster_chat(settings, pool, store, chat, users)
    if metrics:
        metrics.count_websockets(lambda: len(hub.connections()))
        metrics.watch_websocket_queues(hub.queued_bytes, hub.queued_frames)
        metrics.watch_chat_writer_stall(store.writer.stalled_for)
        if role is not None:
            metrics.watch_chat_writer_role(role.is_writer, role.failed_leads)
    return ChatParts(service=chat, store=store, peers=peers, hub=hub, publishers=publishers,
                     presence_store=presence_store, bus=bus, role=role)
