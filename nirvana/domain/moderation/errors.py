"""Errors of moderation, each with its stable code."""

from __future__ import annotations

from datetime import datetime

from ..errors import PermissionDeniedError


class NotModeratorError(PermissionDeniedError):
    code = "not_moderator"
    message = "Only moderators can do this."


class NotAdminError(PermissionDeniedError):
    code = "not_admin"
    message = "Only admins can do this."


class AccountSuspendedError(PermissionDeniedError):
    """Sign-in of a suspended account; `details.until` is when it ends (null: never)."""

    code = "account_suspended"

    def __init__(self, until: datetime | None) -> None:
        when = (f"until {until.strftime('%Y-%m-%d %H:%M')} UTC" if until is not None
                else "for good")
        super().__init__(f"This account is suspended {when}.",
                         details={"until": until.isoformat() if until is not None else None})
        self.until = until
