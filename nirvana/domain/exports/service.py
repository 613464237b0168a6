"""Exports: a user asks for an archive of their data; a background worker builds it; the
user is told (a notification and a mail with the link); only they can download it, until it
expires. docs/accounts.md says what is in it and what is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

from ..clock import Clock
from ..errors import NotFoundError, RateLimitedError
from ..chat.entities import Conversation, Message
from .jobs import ExportJob, ExportState
from .ports import AccountRecords, Archives, ChatReader, ExportJobs, ExportMailer, Notifier

README = """Your Nirvana data, as of {when}.

profile.json        your account: email, username, name, about, avatar, status
blogs.json          your blogs (drafts and scheduled ones too), with what they received
comments.json       your comments, and the comments others left on your blogs
likes.json          your reactions (likes among them), and who reacted to your blogs
social.json         friends, friend requests, whom you follow, who follows you, whom you block
notifications.json  what you were told
conversations.json  your conversations and every message in them that you may see
people.json         the other users named in these files: id, username and name only
files.json          every file you uploaded and have not deleted: address, the name you
                    sent it with, kind, type, size, date
uploads/            the files your profile, blogs and messages use that this server stores
uploads.json        every such file's address, also those stored elsewhere
"""


@dataclass(frozen=True)
class ExportPolicy:
    # How long a ready archive can be downloaded.
    ttl: timedelta = timedelta(days=2)
    # Exports one user may ask for per window: each reads all their data.
    per_window: int = 3
    window: timedelta = timedelta(days=1)
    # A build not finished by then is taken again by another worker (its process stopped).
    lease: timedelta = timedelta(minutes=10)
    attempts: int = 3
    base_url: str = "http://127.0.0.1:8000"


class Exports:
    def __init__(self, *, jobs: ExportJobs, records: AccountRecords, chat: ChatReader,
                 archives: Archives, notifier: Notifier, mailer: ExportMailer, clock: Clock,
                 policy: ExportPolicy = ExportPolicy(),
                 on_request: Callable[[], None] = lambda: None) -> None:
        self._jobs = jobs
        self._records = records
        self._chat = chat
        self._archives = archives
        self._notifier = notifier
        self._mailer = mailer
        self._clock = clock
        self.policy = policy
        # Wakes the worker (bootstrap.py) so a new request does not wait for its next round.
        self._on_request = on_request

    async def request(self, user_id: int) -> ExportJob:
        """Ask for an export. One already waiting or being built is answered instead of a
        second; past `per_window` requests a day, RateLimitedError."""
        now = self._clock.now()
        recent = await self._jobs.of_user(user_id, now - self.policy.window)
        for job in recent:
            if job.state in (ExportState.PENDING, ExportState.BUILDING):
                return job
        if len(recent) >= self.policy.per_window:
            oldest = min(j.requested_at for j in recent)
            wait = (oldest + self.policy.window - now).total_seconds()
            raise RateLimitedError(
                retry_after=max(1, math.ceil(wait)),
                message=f"At most {self.policy.per_window} exports a day: try again later.")
        job = await self._jobs.create(user_id, now)
        self._on_request()
        return job

    async def list(self, user_id: int) -> list[ExportJob]:
        """The user's exports of the last `ttl` (at least a day), newest first."""
        since = self._clock.now() - max(self.policy.ttl, self.policy.window)
        return await self._jobs.of_user(user_id, since)

    async def downloadable(self, user_id: int, export_id: str) -> ExportJob:
        """The user's own ready export; NotFoundError otherwise: another user's export is
        as unknown as a made-up id, an expired one says so."""
        job = await self._jobs.get(export_id)
        if job is None or job.user_id != user_id:
            raise NotFoundError("You have no export with this id.", code="export_not_found")
        if job.state is ExportState.EXPIRED or (
                job.expires_at is not None and job.expires_at <= self._clock.now()):
            raise NotFoundError("This export has expired: ask for a new one.",
                                code="export_expired")
        if job.state is not ExportState.READY:
            raise NotFoundError("This export is not ready yet.", code="export_not_ready")
        return job

    # -- the worker's side ----------------------------------------------------------------

    async def build_next(self) -> ExportJob | None:
        """Build the oldest export waiting, if any; the job it built (or tried to)."""
        job = await self._jobs.claim(self._clock.now(), self.policy.lease)
        if job is None:
            return None
        try:
            email = await self._build(job)
        except Exception:
            await self._jobs.give_back(job.id, give_up=job.attempts + 1 >= self.policy.attempts)
            raise
        await self._tell(job, email)
        return job

    async def purge(self) -> int:
        """Delete the archives past their expiry, and those whose export is gone (its
        account was deleted: the rows go with it); how many."""
        await self._jobs.expire(self._clock.now())
        # Files first, rows second: an archive stored before the rows are read has a live
        # row then, unless its export is really over.
        stored = await self._archives.stored_ids()
        live = await self._jobs.live_ids()
        gone = [i for i in stored if i not in live]
        for export_id in gone:
            await self._archives.delete(export_id)
        return len(gone)

    async def _build(self, job: ExportJob) -> str:
        user_id = job.user_id
        records = await self._records.collect(user_id)
        conversations, message_uploads = await self._conversations(user_id)
        people = set(records.pop("people_ids", ())) | {
            m["user_id"] for c in conversations for m in c["members"]} | {
            msg["sender_id"] for c in conversations for msg in c["messages"]}
        people.discard(user_id)
        uploads = sorted({*records.pop("uploads", ()), *message_uploads})
        now = self._clock.now()
        files: dict[str, Any] = {
            "README.txt": README.format(when=now.isoformat(timespec="seconds")),
            **{f"{name}.json": section for name, section in records.items()},
            "conversations.json": conversations,
            "people.json": await self._records.people(sorted(people)),
            "uploads.json": uploads,
        }
        size = await self._archives.write(job.id, files, uploads)
        await self._jobs.finish(job.id, size, now, now + self.policy.ttl)
        return records["profile"]["email"]

    async def _every_conversation(self, user_id: int) -> list[Conversation]:
        """Every page of the user's conversation list, then the first again: one that became
        active while the pages were read moved above them (listing.py) and is on it. One
        re-read suffices unless a page's worth became active meanwhile (docs/protocol.md): the
        walk reads no messages, so it is short. Keyed by id: one may be listed twice."""
        found: dict[str, Conversation] = {}
        page = await self._chat.conversations(user_id)
        while True:
            found.update((c.id, c) for c in page.items)
            if page.next is None:
                break
            page = await self._chat.conversations(user_id, page.next)
        found.update((c.id, c) for c in (await self._chat.conversations(user_id)).items)
        return list(found.values())

    async def _conversations(self, user_id: int) -> tuple[list[dict[str, Any]], set[str]]:
        """Every conversation the user is in, with every message of it they may see (the
        history route's rule: not those they deleted for themselves); and the attachments
        of their own messages."""
        found: list[dict[str, Any]] = []
        uploads: set[str] = set()
        for conversation in await self._every_conversation(user_id):
            messages: list[dict[str, Any]] = []
            after = 0
            while True:
                page = await self._chat.history(user_id, conversation.id, after=after,
                                                limit=100)
                for message in page:
                    messages.append(_message(message))
                    if message.sender_id == user_id:
                        uploads.update(a.url for a in message.attachments)
                if len(page) < 100:
                    break
                after = page[-1].seq
            found.append(_conversation(conversation, messages))
        return found, uploads

    async def _tell(self, job: ExportJob, email: str) -> None:
        ready = await self._jobs.get(job.id)
        until = ready.expires_at if ready and ready.expires_at else self._clock.now()
        when = until.strftime("%Y-%m-%d %H:%M UTC")
        await self._notifier.notify(
            job.user_id, f"Your data export is ready: download it from Settings until {when}.",
            subject=f"export:{job.id}")
        await self._mailer.send(
            email, "Your Nirvana data export is ready",
            "Hello,\n\nThe export of your Nirvana data you asked for is ready. Sign in and\n"
            f"download it from this link until {when}:\n\n"
            f"  {self.policy.base_url}/api/v1/user/exports/{job.id}/archive\n\n"
            f"or from Settings: {self.policy.base_url}/settings/export\n\n"
            "If you did not ask for it, change your password: someone else may have.\n")


def _conversation(c: Conversation, messages: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": c.id, "kind": c.kind.value, "name": c.name, "description": c.description,
        "avatar_url": c.avatar_url, "created_by": c.created_by, "created_at": c.created_at,
        "members": [{"user_id": m.user_id, "role": m.role.value} for m in c.members],
        "messages": messages,
    }


def _message(m: Message) -> dict[str, Any]:
    return {
        "seq": m.seq, "sender_id": m.sender_id, "kind": m.kind.value, "text": m.text,
        "attachments": [{"url": a.url, "kind": a.kind.value, "name": a.name, "size": a.size}
                        for a in m.attachments],
        "reply_to": m.reply_to, "created_at": m.created_at, "edited_at": m.edited_at,
        "deleted": m.deleted,
        "reactions": [{"emoji": emoji, "user_ids": list(ids)} for emoji, ids in m.reactions],
    }
