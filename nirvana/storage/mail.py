"""Mail adapters: an SMTP sender, and an outbox of .eml files for zero-config use."""

from __future__ import annotations

import html
import os
import re
import smtplib
import ssl
import uuid
from datetime import datetime, timezone
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import anyio


_URL = re.compile(r"https?://[^\s<>\"]+")


def html_of(text: str) -> str:
    """An HTML part for a mail written as text: every mail has both (docs/mail.md)."""
    paragraphs = []
    for para in text.split("\n\n"):
        escaped = html.escape(para)
        linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        paragraphs.append("<p>" + linked.replace("\n", "<br>") + "</p>")
    return "<!doctype html><html><body>" + "".join(paragraphs) + "</body></html>"


def _message(sender: str, to: str, subject: str, body: str,
             message_id: str | None = None, html_body: str | None = None,
             headers: dict[str, str] | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    # The outbox gives one id per mail, kept across retries: a receiver can drop a repeat.
    msg["Message-ID"] = message_id or make_msgid(domain="nirvana.local")
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    msg.add_alternative(html_body or html_of(body), subtype="html")
    return msg


class OutboxMailer:
    """Writes each message to `<dir>/<time>-<id>.eml`, readable by any mail client."""

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self._sender = sender

    async def send(self, to: str, subject: str, body: str,
                   message_id: str | None = None, *, html: str | None = None,
                   headers: dict[str, str] | None = None) -> None:
        data = bytes(_message(self._sender, to, subject, body, message_id, html, headers))

        def write() -> None:
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
            final = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            tmp = final.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.chmod(tmp, 0o600)  # reset links are secrets
            tmp.replace(final)  # a reader never sees half a message

        await anyio.to_thread.run_sync(write)

    async def forget(self, address: str) -> int:
        """Remove the messages written to `address` (a deleted account's); how many."""
        def remove() -> int:
            removed = 0
            for path in self.directory.glob("*.eml"):
                with open(path, "rb") as f:
                    to = BytesHeaderParser(policy=default).parse(f)["To"] or ""
                if to.strip().lower() == address.strip().lower():
                    path.unlink(missing_ok=True)
                    removed += 1
            return removed

        if not self.directory.is_dir():
            return 0
        return await anyio.to_thread.run_sync(remove)


class SmtpMailer:
    """smtp://user:pass@host:port (STARTTLS when offered) or smtps:// (TLS from the start)."""

    def __init__(self, url: str, sender: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        self._tls = parts.scheme == "smtps"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (465 if self._tls else 25)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._sender = sender
        self._timeout = timeout

    async def send(self, to: str, subject: str, body: str,
                   message_id: str | None = None, *, html: str | None = None,
                   headers: dict[str, str] | None = None) -> None:
        """Raises smtplib's errors (with the server's code) and OSError as they come: the
        sender (mail_sender.py) tells a temporary refusal from a permanent one."""
        msg = _message(self._sender, to, subject, body, message_id, html, headers)

        def deliver() -> None:
            context = ssl.create_default_context()
            if self._tls:
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    self._host, self._port, timeout=self._timeout, context=context
                )
            else:
                client = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
            with client:
                client.ehlo()
                if not self._tls and client.has_extn("starttls"):
                    client.starttls(context=context)
                    client.ehlo()
                if self._user:
                    client.login(self._user, self._password or "")
                client.send_message(msg)

        await anyio.to_thread.run_sync(deliver)
