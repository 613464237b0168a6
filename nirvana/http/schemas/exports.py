"""Request and response models of data exports (docs/accounts.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from ...domain.exports.jobs import ExportJob
from ..api import Out


class ExportOut(Out):
    id: str
    state: Literal["pending", "building", "ready", "failed", "expired"]
    requested_at: datetime
    ready_at: datetime | None
    expires_at: datetime | None = Field(description="Until when it can be downloaded")
    size: int | None = Field(description="The archive's size in bytes, once ready")
    download_url: str | None = Field(description="GET it (signed in as you) while ready")

    @classmethod
    def of(cls, job: ExportJob) -> "ExportOut":
        ready = job.state.value == "ready"
        return cls(id=job.id, state=job.state.value, requested_at=job.requested_at,
                   ready_at=job.ready_at, expires_at=job.expires_at, size=job.size,
                   download_url=f"/api/v1/user/exports/{job.id}/archive" if ready else None)


class ExportsOut(Out):
    exports: list[ExportOut]
