"""What exports need from the outside (adapters: storage/postgres/exports.py for the jobs
and the account's rows, storage/export_archive.py for the files)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol, Sequence

from ..chat.entities import Message
from ..chat.listing import ConversationPage, Position
from .jobs import ExportJob


class ExportJobs(Protocol):
    async def create(self, user_id: int, now: datetime) -> ExportJob: ...

    async def get(self, export_id: str) -> ExportJob | None:
        """None also for an id that is not a well-formed export id."""
        ...

    async def of_user(self, user_id: int, since: datetime) -> list[ExportJob]:
        """The user's exports asked for after `since`, newest first."""
        ...

    async def claim(self, now: datetime, lease: timedelta) -> ExportJob | None:
        """Take the oldest pending export (or one whose builder's lease ran out) and mark it
        building; None when there is none. Two workers never get the same one."""
        ...

    async def finish(self, export_id: str, size: int, ready_at: datetime,
                     expires_at: datetime) -> None: ...

    async def give_back(self, export_id: str, give_up: bool) -> None:
        """A build failed: pending again, or failed for good when `give_up`."""
        ...

    async def expire(self, now: datetime) -> list[str]:
        """Mark ready exports past their expiry expired; their ids."""
        ...

    async def live_ids(self) -> set[str]:
        """The ids of exports waiting, being built or ready: whose archive must stay."""
        ...


class AccountRecords(Protocol):
    async def collect(self, user_id: int) -> dict[str, Any]:
        """The user's rows in PostgreSQL as JSON-ready sections: `profile`, `blogs`,
        `comments`, `likes`, `social`, `notifications`, `files` (the upload ledger). Other
        users appear by id only."""
        ...

    async def people(self, user_ids: Sequence[int]) -> list[dict[str, Any]]:
        """What anyone may see of these users (id, username, name): never an email."""
        ...


class ChatReader(Protocol):
    """The chat use cases (ChatService): what the user may see, by the protocol's rules."""

    async def conversations(self, user_id: int, after: Position | None = None
                            ) -> ConversationPage:
        """A page of the user's conversations (chat/listing.py)."""
        ...

    async def history(self, user_id: int, conversation_id: str, *, before: int | None = None,
                      after: int | None = None, limit: int = 50) -> list[Message]: ...


class Archives(Protocol):
    async def write(self, export_id: str, files: dict[str, Any],
                    uploads: Sequence[str]) -> int:
        """Write the archive: each of `files` as JSON (text for a str), and the uploads
        (media URLs) that this server stores, under uploads/; its size in bytes."""
        ...

    async def delete(self, export_id: str) -> None: ...

    async def stored_ids(self) -> list[str]:
        """The ids of every archive stored."""
        ...


class Notifier(Protocol):
    async def notify(self, recipient_id: int, text: str, *, subject: str,
                     actor_id: int | None = None) -> None: ...


class ExportMailer(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None: ...
