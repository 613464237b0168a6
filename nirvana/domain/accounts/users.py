"""Users and the rules on the fields a user owns."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from ..errors import AuthenticationError, InvalidInputError, field_error
from ..urls import validate_url
from ..text import check_text, is_blank

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 1024
MAX_EMAIL = 254
MAX_NAME = 80
MAX_ABOUT = 2000
MAX_STATUS = 140
USERNAME_RE = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.]{1,28})[A-Za-z0-9_]$")
# Deliberately loose: one @, something on each side, a dot in the domain, no spaces. The
# only real proof of an address is mail that arrives there.
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    username: str
    name: str
    about: str
    avatar_url: str | None
    status: str
    email_verified: bool
    role: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    user: User
    password_hash: str


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """Only the fields a user may change about themselves; None means 'leave as is'."""

    name: str | None = None
    username: str | None = None
    about: str | None = None
    avatar_url: str | None = None
    status: str | None = None
    clear_avatar: bool = False

    def is_empty(self) -> bool:
        return (
            self.name is None
            and self.username is None
            and self.about is None
            and self.avatar_url is None
            and self.status is None
            and not self.clear_avatar
        )


def account_gone() -> AuthenticationError:
    """For a signed-in user whose account was deleted meanwhile."""
    return AuthenticationError("This account no longer exists.", code="unknown_user")


def normalise_email(raw: str) -> str:
    # NFKC + casefold: "Ann@Example.COM " and "ann@example.com" are one account.
    check_text(raw, "email")
    email = unicodedata.normalize("NFKC", raw).strip().casefold()
    if not email or len(email) > MAX_EMAIL or not EMAIL_RE.match(email):
        raise field_error("email", "must be a valid email address")
    return email


def validate_username(raw: str) -> str:
    username = raw.strip()
    if not USERNAME_RE.match(username) or ".." in username:
        raise field_error(
            "username",
            "must be 3-30 letters, digits, '_' or '.', not starting or ending with '.'",
        )
    return username


def validate_name(raw: str) -> str:
    name = " ".join(check_text(raw, "name", required=True).split())
    if is_blank(name) or len(name) > MAX_NAME:
        raise field_error("name", f"must be 1-{MAX_NAME} characters")
    return name


def validate_password(raw: str, field: str = "password") -> str:
    """A new password: single-line like every field not declared multiline (a tab or line
    break is one a form or a terminal may not let you type again). A password checked
    against a stored one is never held to this, so one set before the rule still works."""
    check_text(raw, field)
    if len(raw) < MIN_PASSWORD_CHARS:
        raise field_error(field, f"must be at least {MIN_PASSWORD_CHARS} characters", "too_short")
    if len(raw.encode("utf-8")) > MAX_PASSWORD_BYTES:
        raise field_error(field, f"must be at most {MAX_PASSWORD_BYTES} bytes", "too_long")
    return raw


def validate_text(raw: str, field: str, max_len: int, *, multiline: bool = False) -> str:
    return check_text(raw, field, max_len, multiline=multiline)


def validate_profile_changes(changes: ProfileChanges) -> ProfileChanges:
    if changes.is_empty():
        raise InvalidInputError("Nothing to change.", code="empty_update")
    return ProfileChanges(
        name=validate_name(changes.name) if changes.name is not None else None,
        username=validate_username(changes.username) if changes.username is not None else None,
        about=validate_text(changes.about, "about", MAX_ABOUT, multiline=True)
        if changes.about is not None
        else None,
        avatar_url=validate_url(changes.avatar_url, "avatar")
        if changes.avatar_url is not None
        else None,
        status=validate_text(changes.status, "status", MAX_STATUS)
        if changes.status is not None
        else None,
        clear_avatar=changes.clear_avatar,
    )
