"""What follows an account's deletion (built in wiring/accounts.py and bootstrap.py).

The deletion itself (domain/accounts) removes the PostgreSQL rows and refuses the account's
tokens. Announced as `AccountDeleted`, it then reaches the features that hold copies
elsewhere: public blog lists stop serving the account's blogs at once, and the erasure of
its chat text runs in the background — recorded when done, retried by housekeeping if not.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Protocol

from ..domain.accounts.deletion import AccountDeleted, ContentEraser, Erasure
from ..domain.blogs.service import Blogs
from ..domain.uploads import Uploads
from ..storage.mail import OutboxMailer
from ..storage.media import LocalMediaStore
from ..storage.postgres.uploads import PgUploadLedger

log = logging.getLogger("nirvana.accounts")


class SenderErasure(Protocol):
    """What the erasure needs of the chat service (ChatService, or ClusterChat with
    several instances: it runs on the chat writer, whose cache it forgets)."""

    async def erase_sender(self, user_id: int) -> None: ...


class ChatOfDeletedAccounts:
    """The ContentEraser: a deleted account's chat messages become tombstones, through the
    chat service (storage/mongo/erasure.py says what is guaranteed), and the chat writer's
    cache forgets the conversations that held them."""

    def __init__(self, chat: SenderErasure) -> None:
        self._chat = chat

    async def erase(self, user_id: int) -> None:
        await self._chat.erase_sender(user_id)


class UploadsOfDeletedAccounts:
    """A deleted account's uploads are removed: from local disk, and from the media store in
    use (Cloudinary, with CLOUDINARY_URL). Each store leaves other stores' URLs alone; one
    that fails leaves the account pending, and housekeeping tries again."""

    def __init__(self, ledger: PgUploadLedger, local: LocalMediaStore, uploads: Uploads) -> None:
        self._ledger = ledger
        self._local = local
        self._uploads = uploads  # its store is read each time: it can be swapped at run time

    async def erase(self, user_id: int) -> None:
        urls = await self._ledger.orphaned(user_id)
        current = self._uploads.store
        for url in urls:
            await self._local.delete(url)
            if current is not self._local:
                await current.delete(url)
        await self._ledger.removed(urls)


class ErasersInTurn:
    """Several ContentErasers as one: each runs, and a failure leaves the account pending."""

    def __init__(self, *erasers: ContentEraser) -> None:
        self._erasers = erasers

    async def erase(self, user_id: int) -> None:
        for eraser in self._erasers:
            await eraser.erase(user_id)


class AfterAccountDeletion:
    def __init__(self, blogs: Blogs, erasure: Erasure,
                 background: set[asyncio.Task], outbox: OutboxMailer | None = None) -> None:
        self._blogs = blogs
        self._erasure = erasure
        self._background = background
        self._outbox = outbox

    def publish(self, event: AccountDeleted) -> None:
        self._blogs.authors_removed()
        self._spawn(self._erasure.erase(event.user_id))
        if self._outbox is not None and event.email:
            # Known by address only, and only now: a crash in this instant leaves the files
            # (docs/accounts.md says so).
            self._spawn(self._outbox.forget(event.email))

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(_logged(work), name="account-erasure")
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def _logged(work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:  # the tombstone stays pending: housekeeping retries it
        log.exception("erasing a deleted account's content failed; housekeeping retries it")
