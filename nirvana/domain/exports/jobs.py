"""An export: the archive of one user's data, asked for, built in the background, then
downloadable by that user alone until it expires."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class ExportState(StrEnum):
    PENDING = "pending"  # asked for; the worker builds it, also after a restart
    BUILDING = "building"  # claimed by a worker (taken again when its lease runs out)
    READY = "ready"  # downloadable until expires_at
    FAILED = "failed"  # gave up after a few attempts
    EXPIRED = "expired"  # the archive is deleted; the row stays for the rate limit


@dataclass(frozen=True, slots=True)
class ExportJob:
    id: str
    user_id: int
    state: ExportState
    requested_at: datetime
    ready_at: datetime | None = None
    expires_at: datetime | None = None
    size: int | None = None
    attempts: int = 0
