"""The mail sender: one task that sends what the outbox holds (postgres/mail_outbox.py),
retrying temporary failures with exponential backoff.

Temporary: the server answered 4xx, or could not be reached (refused, timed out, cut off).
Permanent: it answered 5xx; the mail is marked failed with the answer and never retried.
A mail is sent at least once: if the process dies between the server's answer and recording
it, the next attempt sends it again, with the same Message-ID (docs/mail.md).
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from ..domain.clock import Clock
from .postgres.mail_outbox import PgMailOutbox, QueuedMail

log = logging.getLogger("nirvana.mail")


class Transport(Protocol):
    async def send(self, to: str, subject: str, body: str,
                   message_id: str | None = None, *, html: str | None = None,
                   headers: dict[str, str] | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Backoff:
    first: timedelta = timedelta(seconds=30)
    longest: timedelta = timedelta(hours=1)
    # Past this many attempts a mail that still fails temporarily is given up on.
    max_attempts: int = 12

    def after(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt (1, 2, …): doubling, capped."""
        return min(self.first * (2 ** (attempts - 1)), self.longest)


def refusal_code(exc: BaseException) -> int | None:
    """The SMTP reply code of a refusal, or None when the server was never answered."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return max(codes) if codes else None
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code
    return None


def is_permanent(exc: BaseException) -> bool:
    code = refusal_code(exc)
    return code is not None and code >= 500


class MailSender:
    def __init__(self, outbox: PgMailOutbox, transport: Transport, clock: Clock, *,
                 backoff: Backoff | None = None, poll_seconds: float = 30.0,
                 batch: int = 20, lease: timedelta = timedelta(minutes=5)) -> None:
        self._outbox = outbox
        self._transport = transport
        self._clock = clock
        self.backoff = backoff or Backoff()
        self._poll = poll_seconds
        self._batch = batch
        self._lease = lease

    async def send_due(self) -> int:
        """Send every mail due now (one batch at a time); how many were attempted."""
        attempted = 0
        while mails := await self._outbox.claim(self._clock.now(), self._lease, self._batch):
            for mail in mails:
                await self._attempt(mail)
            attempted += len(mails)
        return attempted

    async def _attempt(self, mail: QueuedMail) -> None:
        try:
            await self._transport.send(mail.recipient, mail.subject, mail.body,
                                       mail.message_id, html=mail.html, headers=mail.headers)
        except (smtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            attempts = mail.attempts + 1
            if is_permanent(exc) or attempts >= self.backoff.max_attempts:
                log.warning("mail refused for good", extra={"mail_id": mail.id,
                                                            "error": error})
                await self._outbox.failed(mail.id, self._clock.now(), error)
            else:
                wait = self.backoff.after(attempts)
                log.info("mail delivery failed; retrying",
                         extra={"mail_id": mail.id, "attempts": attempts,
                                "retry_in": wait.total_seconds()})
                await self._outbox.retry_at(mail.id, self._clock.now() + wait, error)
            return
        await self._outbox.sent(mail.id, self._clock.now())

    async def run(self) -> None:
        """Forever: send what is due, then sleep until the next mail is due, a new one is
        queued in this process, or the poll interval passes (mails queued by another)."""
        while True:
            # Cleared before the outbox is read: a mail queued from here on wakes the wait.
            self._outbox.queued.clear()
            try:
                await self.send_due()
                due = await self._outbox.next_due()
            except Exception:
                log.exception("mail sending failed; retrying at the next poll")
                due = None
            wait = self._poll
            if due is not None:
                wait = max(0.0, min(wait, (due - self._clock.now()).total_seconds()))
            try:
                await asyncio.wait_for(self._outbox.queued.wait(), wait)
            except TimeoutError:
                pass


