"""Email verification links: signed, expiring, and void once the address changes.

A link carries the user id and an expiry, and a MAC over them *and the address it was sent
to*; the address itself is not in the link (links end up in logs and browser history). A
link for an address the account no longer has therefore fails to verify, with no table of
tokens to keep or revoke.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Signer(Protocol):
    def sign(self, message: str) -> str:
        """A URL-safe MAC of `message` under the server's secret."""
        ...

    def matches(self, message: str, mac: str) -> bool:
        """True when `mac` is `sign(message)`; compared in constant time."""
        ...


def _message(user_id: int, expires: int, email: str) -> str:
    return f"verify-email|{user_id}|{expires}|{email.lower()}"


def make_link_token(signer: Signer, user_id: int, email: str, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{user_id}.{expires}.{signer.sign(_message(user_id, expires, email))}"


def read_link_token(token: str) -> tuple[int, int, str] | None:
    """(user id, expiry as a Unix time, MAC), or None if the token is not of that shape."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    return int(parts[0]), int(parts[1]), parts[2]


def link_matches(signer: Signer, user_id: int, expires: int, email: str, mac: str) -> bool:
    return signer.matches(_message(user_id, expires, email), mac)


def mask_email(email: str) -> str:
    """"ann@example.com" -> "a**@example.com": enough to recognise, not to harvest."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{'*' * max(2, len(local) - 1)}@{domain}"
