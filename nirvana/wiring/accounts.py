"""Accounts: the service with its stores and crypto, the gates a write passes (a verified
email, no suspension, the rate of writes), and what an account's deletion and its data
exports reach outside PostgreSQL."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import asyncpg

from ..domain.accounts.deletion import Erasure
from ..domain.accounts.policy import AccountPolicy
from ..domain.accounts.ports import PasswordHasher
from ..domain.accounts.service import Accounts
from ..domain.accounts.standing import OpenGate, VerifiedEmailGate, WriteGate
from ..domain.accounts.two_factor import SecondFactor, TwoFactorSettings
from ..domain.clock import Clock
from ..domain.exports.service import ExportPolicy, Exports
from ..domain.moderation.suspension import SuspensionGate
from ..domain.notifications.service import Notifications
from ..domain.ratelimit import Limit, SlidingWindowLimiter
from ..export_worker import ExportWorker
from ..security import Argon2Hasher, HmacSigner, JwtAccessTokens, PyotpTotp
from ..settings import Settings
from ..storage.cached_users import CachedUserRepository
from ..storage.export_archive import LocalExportArchives
from ..storage.postgres.accounts import (
    PgDeletedAccounts,
    PgPasswordResetStore,
    PgRefreshTokenStore,
    PgUserRepository,
)
from ..storage.postgres.exports import PgAccountRecords, PgExportJobs
from ..storage.postgres.mail_outbox import PgMailOutbox
from ..storage.postgres.moderation import PgModerationStore
from ..storage.postgres.sessions import PgSessionStore
from ..storage.postgres.two_factor import PgTwoFactorStore
from ..storage.redis.limits import SharedLimits
from .account_deletion import (
    ChatOfDeletedAccounts,
    ErasersInTurn,
    SenderErasure,
    UploadsOfDeletedAccounts,
)
from .events import AccountEventFanOut
from .media import Media


def load_or_create_secret(data_dir: Path) -> str:
    """The JWT secret kept under the data directory, made once (JWT_SECRET replaces it)."""
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


@dataclass(frozen=True)
class AccountParts:
    accounts: Accounts
    two_factor: TwoFactorSettings
    users: CachedUserRepository
    # Who hears of a deletion: the features that hold copies elsewhere join once built.
    events: AccountEventFanOut
    # Who may publish and chat right now (UNVERIFIED_MAY_WRITE).
    write_gate: WriteGate
    moderation_store: PgModerationStore
    # Makes a rate limiter: in this process, or kept in step between instances (REDIS_URL).
    limiter: Callable[[Limit], Any]
    shared_limits: SharedLimits | None


def build_accounts(settings: Settings, pool: asyncpg.Pool, secret: str, clock: Clock,
                   mailer: PgMailOutbox, *,
                   hasher: PasswordHasher | None = None) -> AccountParts:
    """`hasher`: None is argon2id at the production parameters (Argon2Hasher's defaults)."""
    signer = HmacSigner(secret)
    second_factor = SecondFactor(store=PgTwoFactorStore(pool), totp=PyotpTotp(),
                                 signer=signer, clock=clock)
    users = CachedUserRepository(PgUserRepository(pool))
    shared_limits = SharedLimits(clock) if settings.redis_url is not None else None
    limiter = (shared_limits.limiter if shared_limits is not None
               else lambda limit: SlidingWindowLimiter(limit, clock))
    moderation_store = PgModerationStore(pool, role_changed=users.forget)
    events = AccountEventFanOut()
    accounts = Accounts(
        users=users,
        refresh_tokens=PgRefreshTokenStore(pool),
        sessions=PgSessionStore(pool),
        resets=PgPasswordResetStore(pool),
        hasher=hasher if hasher is not None else Argon2Hasher(),
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
        events=events,
        second_factor=second_factor,
        sign_in_gate=SuspensionGate(moderation_store, clock),
        limiter=limiter,
    )
    write_gate: WriteGate = (OpenGate() if settings.unverified_may_write
                             else VerifiedEmailGate(accounts.users))
    return AccountParts(
        accounts=accounts, two_factor=TwoFactorSettings(second_factor, accounts, clock),
        users=users, events=events, write_gate=write_gate, moderation_store=moderation_store,
        limiter=limiter, shared_limits=shared_limits)


def build_erasure(pool: asyncpg.Pool, clock: Clock, chat: SenderErasure,
                  media: Media) -> Erasure:
    """Erases what deleted accounts left outside PostgreSQL: chat text (through the chat
    service, on the chat writer), then uploads."""
    return Erasure(ErasersInTurn(ChatOfDeletedAccounts(chat),
                                 UploadsOfDeletedAccounts(media.ledger, media.uploads)),
                   PgDeletedAccounts(pool), clock)


@dataclass(frozen=True)
class DataExports:
    exports: Exports
    archives: LocalExportArchives
    worker: ExportWorker


def build_exports(settings: Settings, pool: asyncpg.Pool, clock: Clock, chat: Any,
                  media: Media, notifier: Notifications, mailer: PgMailOutbox) -> DataExports:
    """Data exports, built in the background by the worker, which a new request wakes."""
    worker = ExportWorker()
    archives = LocalExportArchives(settings.data_dir / "exports", media.local)
    exports = Exports(jobs=PgExportJobs(pool), records=PgAccountRecords(pool), chat=chat,
                      archives=archives, notifier=notifier, mailer=mailer,
                      clock=clock, policy=ExportPolicy(base_url=settings.base_url),
                      on_request=worker.wake)
    worker.exports = exports
    return DataExports(exports, archives, worker)
