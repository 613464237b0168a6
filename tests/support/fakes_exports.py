"""In-memory fakes of the export ports, with the PostgreSQL adapter's rules (one claim per
job, a lease that runs out)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from typing import Any, Sequence

from nirvana.domain.chat.listing import ConversationPage
from nirvana.domain.exports.jobs import ExportJob, ExportState


class FakeExportJobs:
    def __init__(self) -> None:
        self.jobs: dict[str, ExportJob] = {}
        self.claimed_at: dict[str, datetime] = {}

    async def create(self, user_id: int, now: datetime) -> ExportJob:
        job = ExportJob(str(uuid.uuid4()), user_id, ExportState.PENDING, now)
        self.jobs[job.id] = job
        return job

    async def get(self, export_id: str) -> ExportJob | None:
        return self.jobs.get(export_id)

    async def of_user(self, user_id: int, since: datetime) -> list[ExportJob]:
        return sorted((j for j in self.jobs.values()
                       if j.user_id == user_id and j.requested_at > since),
                      key=lambda j: j.requested_at, reverse=True)

    async def claim(self, now: datetime, lease: timedelta) -> ExportJob | None:
        for job in sorted(self.jobs.values(), key=lambda j: j.requested_at):
            stale = (job.state is ExportState.BUILDING
                     and self.claimed_at[job.id] < now - lease)
            if job.state is ExportState.PENDING or stale:
                claimed = dataclasses.replace(job, state=ExportState.BUILDING,
                                              attempts=job.attempts + 1)
                self.jobs[job.id] = claimed
                self.claimed_at[job.id] = now
                return dataclasses.replace(claimed, attempts=job.attempts)
        return None

    async def finish(self, export_id: str, size: int, ready_at: datetime,
                     expires_at: datetime) -> None:
        self.jobs[export_id] = dataclasses.replace(
            self.jobs[export_id], state=ExportState.READY, size=size, ready_at=ready_at,
            expires_at=expires_at)

    async def give_back(self, export_id: str, give_up: bool) -> None:
        self.jobs[export_id] = dataclasses.replace(
            self.jobs[export_id], state=ExportState.FAILED if give_up else ExportState.PENDING)

    async def expire(self, now: datetime) -> list[str]:
        gone = [j.id for j in self.jobs.values()
                if j.state is ExportState.READY and j.expires_at and j.expires_at <= now]
        for export_id in gone:
            self.jobs[export_id] = dataclasses.replace(self.jobs[export_id],
                                                       state=ExportState.EXPIRED)
        return gone

    async def live_ids(self) -> set[str]:
        return {j.id for j in self.jobs.values() if j.state in (
            ExportState.PENDING, ExportState.BUILDING, ExportState.READY)}


class FakeRecords:
    def __init__(self, fail_times: int = 0) -> None:
        self.fail_times = fail_times

    async def collect(self, user_id: int) -> dict[str, Any]:
        if self.fail_times:
            self.fail_times -= 1
            raise ConnectionError("store down")
        return {"profile": {"id": user_id, "email": f"u{user_id}@example.com"},
                "people_ids": [], "uploads": []}

    async def people(self, user_ids: Sequence[int]) -> list[dict[str, Any]]:
        return [{"id": i} for i in user_ids]


class NoChats:
    async def conversations(self, user_id: int, after=None) -> ConversationPage:
        return ConversationPage([], None)

    async def history(self, user_id: int, conversation_id: str, **page: Any) -> list:
        return []


class FakeArchives:
    def __init__(self) -> None:
        self.stored: dict[str, dict[str, Any]] = {}

    async def write(self, export_id: str, files: dict[str, Any],
                    uploads: Sequence[str]) -> int:
        self.stored[export_id] = files
        return 100

    async def delete(self, export_id: str) -> None:
        self.stored.pop(export_id, None)

    async def stored_ids(self) -> list[str]:
        return list(self.stored)


class Told:
    def __init__(self) -> None:
        self.notices: list[tuple[int, str]] = []
        self.mails: list[tuple[str, str]] = []

    async def notify(self, recipient_id: int, text: str, *, subject: str,
                     actor_id: int | None = None) -> None:
        self.notices.append((recipient_id, text))

    async def send(self, to: str, subject: str, body: str) -> None:
        self.mails.append((to, body))
