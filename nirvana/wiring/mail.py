"""Mail: what causes a mail writes it to the outbox table; the sender task hands it to the
transport, SMTP with SMTP_URL, else `.eml` files under the data directory (docs/mail.md)."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ..domain.clock import Clock
from ..settings import Settings
from ..storage.mail import OutboxMailer, SmtpMailer
from ..storage.mail_sender import MailSender
from ..storage.postgres.mail_outbox import PgMailOutbox


@dataclass(frozen=True)
class Mail:
    outbox: PgMailOutbox
    transport: SmtpMailer | OutboxMailer
    sender: MailSender

    @property
    def eml_directory(self) -> OutboxMailer | None:
        """The directory of `.eml` files, when mail goes there (it holds copies of what was
        mailed, so a deleted account's mails are removed from it too)."""
        return self.transport if isinstance(self.transport, OutboxMailer) else None


def build_mail(settings: Settings, pool: asyncpg.Pool, clock: Clock) -> Mail:
    transport = (
        SmtpMailer(settings.smtp_url, settings.mail_from)
        if settings.smtp_url
        else OutboxMailer(settings.data_dir / "outbox", settings.mail_from)
    )
    outbox = PgMailOutbox(pool)
    return Mail(outbox, transport, MailSender(outbox, transport, clock))
