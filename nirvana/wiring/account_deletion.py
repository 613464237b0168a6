"""What follows an account's deletion (built in wiring/accounts.py and bootstrap.py).

The deletion itself (domain/accounts) removes the PostgreSQL rows and refuses the account's
tokens. Announced as `AccountDeleted`, it then reaches the features that hold copies
elsewhere: public blog lists stop serving the account's blogs at once, and the erasure of
its chat text runs in the background — recorded when done; one that fails is tried again a
few times within minutes (`RETRY_WAITS`), then left to housekeeping (hourly and at start).
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Awaitable, Protocol, Sequence

from ..domain.accounts.deletion import AccountDeleted, ContentEraser, Erasure
from ..domain.blogs.service import Blogs
from ..domain.uploads import Uploads
from ..storage.mail import OutboxMailer
from ..storage.postgres.uploads import PgUploadLedger
from ..tasks import retry

log = logging.getLogger("nirvana.accounts")

# Seconds between the tries of a failed erasure (a chat store or Cloudinary that is down a
# moment, a takeover of the chat writer) before housekeeping's hourly run takes it over.
RETRY_WAITS = (2.0, 15.0, 60.0, 300.0)


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

    def __init__(self, ledger: PgUploadLedger, uploads: Uploads) -> None:
        self._ledger = ledger
        self._uploads = uploads  # its store is read each time: it can be swapped at run time

    async def erase(self, user_id: int) -> None:
        urls = await self._ledger.orphaned(user_id)
        for url in urls:
            if not await self._uploads.discard(url):
                # Kept pending it would never finish; the operator can still find the file.
                log.warning("upload %s of deleted account %s is in no media store in use; "
                            "left where it is", url, user_id)
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
                 background: set[asyncio.Task], outbox: OutboxMailer | None = None,
                 retry_waits: Sequence[float] = RETRY_WAITS) -> None:
        self._blogs = blogs
        self._erasure = erasure
        self._background = background
        self._outbox = outbox
        self._retry_waits = retry_waits
        self._erasing: set[int] = set()  # accounts whose erasure (or its retries) runs here

    def publish(self, event: AccountDeleted) -> None:
        self._blogs.authors_removed()
        self._erase(event.user_id)
        if self._outbox is not None and event.email:
            # Known by address only, and only now: a crash in this instant leaves the files
            # (docs/accounts.md says so).
            self._spawn(_logged(self._outbox.forget(event.email)), "account-mail-forget")

    def _erase(self, user_id: int) -> None:
        # One run of tries per account here; the chat writer joins the runs of every
        # instance into one (ChatService.erase_sender).
        if user_id in self._erasing:
            return
        self._erasing.add(user_id)
        task = self._spawn(retry(partial(self._erasure.erase, user_id), self._retry_waits,
                                 f"erasing deleted account {user_id}'s content"),
                           "account-erasure")
        task.add_done_callback(lambda _: self._erasing.discard(user_id))

    def _spawn(self, work: Awaitable[object], name: str) -> asyncio.Task:
        # In `background`: cancelled at stop, also while it waits to try again.
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


async def _logged(work: Awaitable[None]) -> None:
    try:
        await work
    except Exception:
        log.exception("forgetting a deleted account's mail failed")
