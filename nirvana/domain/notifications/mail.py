"""Notification mails: what they say, in text and HTML, and their one-click unsubscribe.

Every notification mail links to the page it is about and carries RFC 8058's
`List-Unsubscribe` (an https/http URL with a signed token) and `List-Unsubscribe-Post`: a
mail client POSTs `List-Unsubscribe=One-Click` to the URL, without signing in, and that
kind's email switch turns off. The token names the user and the kind and is signed with the
server's secret; it does not expire (an old mail's link must still work).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from typing import Protocol


class Signer(Protocol):
    def sign(self, message: str) -> str: ...

    def matches(self, message: str, mac: str) -> bool: ...


class Outbox(Protocol):
    async def send(self, to: str, subject: str, body: str, *, html: str | None = None,
                   headers: dict[str, str] | None = None) -> None:
        """Queue a mail durably; the sender task delivers it (docs/mail.md)."""
        ...


@dataclass(frozen=True, slots=True)
class Contact:
    user_id: int
    email: str
    name: str
    username: str


@dataclass(frozen=True, slots=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)


def unsubscribe_token(signer: Signer, user_id: int, kind: str) -> str:
    payload = base64.urlsafe_b64encode(f"{user_id}:{kind}".encode()).rstrip(b"=").decode()
    return f"{payload}.{signer.sign('unsubscribe:' + payload)}"


def read_unsubscribe_token(signer: Signer, token: str) -> tuple[int, str] | None:
    """(user id, kind) of a token this server signed; None for anything else."""
    payload, dot, mac = token.partition(".")
    if not dot or not signer.matches("unsubscribe:" + payload, mac):
        return None
    try:
        text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
        user, kind = text.split(":", 1)
        return int(user), kind
    except ValueError:
        return None


def compose(*, contact: Contact, subject: str, lines: list[str], link: str, link_text: str,
            base_url: str, unsubscribe: str, why: str) -> Mail:
    """A mail of a few paragraphs, a link to act on, and the footer that unsubscribes.
    `link` is a path on this site; `unsubscribe` the token for it."""
    url = base_url + link
    off = f"{base_url}/unsubscribe?token={unsubscribe}"
    text = "\n\n".join([f"Hello {contact.name},", *lines, f"{link_text}: {url}",
                        f"--\n{why}\nStop these emails: {off}\n"])
    esc = html.escape
    body = "".join(f"<p>{esc(line)}</p>" for line in lines)
    page = (f"<!doctype html><html><body>"
            f"<p>Hello {esc(contact.name)},</p>{body}"
            f'<p><a href="{esc(url)}">{esc(link_text)}</a></p>'
            f'<hr><p style="color:#666;font-size:small">{esc(why)} '
            f'<a href="{esc(off)}">Stop these emails</a>.</p></body></html>')
    return Mail(contact.email, subject, text, page, {
        "List-Unsubscribe": f"<{off}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    })
