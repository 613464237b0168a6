"""Missed chat messages by email: tracking what the chat publishes, and the mailing task.
The rules are in domain/notifications/missed.py; this is their wiring to the stores.

Tracking listens to the chat service's publisher (after each message is stored), never to
the writer itself: `message_posted` only queues in memory, and a task writes what it
queued to PostgreSQL (storage/postgres/missed_messages.py) in one statement per batch, so a
send pays no round trip. A crash in that short gap loses the mail of those messages, not the
messages.

Mailing: every `poll` seconds, rows due are claimed (FOR UPDATE SKIP LOCKED: several
processes may run it); for each, what is still unread is mailed and `mailed_through`
raised, in the transaction that writes the mail to the outbox. So a mail is written exactly
once for the messages it covers, also across a restart; the outbox then sends it.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, Protocol

import asyncpg

from .domain.chat.entities import Conversation, Message
from .domain.clock import Clock
from .domain.notifications.mailing import NotificationMail
from .domain.notifications.missed import (
    MAX_MAILED,
    Tracked,
    candidates,
    quote,
    still_unread,
    subject,
)
from .domain.notifications.policy import Mention, resolve, usernames
from .domain.notifications.ports import Audience
from .domain.notifications.preferences import MISSED_MESSAGES, Channel, Preferences
from .storage.postgres.mail_outbox import PgMailOutbox
from .storage.postgres.missed_messages import DueMissed, PgMissedMessages
from .tasks import stop_if_cancelled

log = logging.getLogger("nirvana.missed_messages")

FETCHED = 200  # the newest tracked messages read to write one mail (it quotes MAX_MAILED)


class ChatReads(Protocol):
    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...

    async def messages(self, conversation_id: str, *, before: int | None, after: int | None,
                       limit: int) -> list[Message]: ...


class Blocks(Protocol):
    async def blocked_with(self, user_id: int, others: Any) -> set[int]: ...


class MissedMessages:
    def __init__(self, *, store: PgMissedMessages, chat: ChatReads, mail: NotificationMail,
                 outbox: PgMailOutbox, preferences: Preferences, audience: Audience,
                 blocks: Blocks, clock: Clock, delay: timedelta,
                 poll: float | None = None) -> None:
        self._store = store
        self._chat = chat
        self._mail = mail
        self._outbox = outbox
        self._preferences = preferences
        self._audience = audience
        self._blocks = blocks
        self._clock = clock
        self.delay = delay
        self._poll = poll if poll is not None else max(0.05, min(delay.total_seconds() / 4, 15))
        self._direct: list[Tracked] = []
        # Group messages with @s, resolved among members when flushed: (message, members,
        # mentions).
        self._mentions: list[tuple[Message, tuple[int, ...], list[Mention]]] = []
        self._queued = asyncio.Event()

    # -- tracking: called by the chat publisher, after a message is stored -----------------

    def message_posted(self, message: Message, conversation: Conversation) -> None:
        direct, handles = candidates(message, conversation)
        online = self._mail.online
        for uid in direct:
            if not online(uid):
                self._direct.append(Tracked(uid, message.conversation_id, message.seq))
        if handles:
            # Among the members at its position (not the copy the send was checked against).
            self._mentions.append((message, message.audience, handles))
        if direct or handles:
            self._queued.set()

    async def flush(self) -> int:
        """Write what was tracked since the last flush; how many (recipient, message)."""
        tracked, self._direct = self._direct, []
        mentions, self._mentions = self._mentions, []
        for message, members, handles in mentions:
            tracked += await self._mentioned(message, members, handles)
        if not tracked:
            return 0
        await self._store.add(tracked, self._clock.now() + self.delay)
        return len(tracked)

    async def _mentioned(self, message: Message, members: tuple[int, ...],
                         handles: list[Mention]) -> list[Tracked]:
        ids = await self._audience.user_ids(usernames(handles))
        # Only a member can see the message; nobody across a block with its sender.
        mentioned = [u for u in resolve(handles, ids, among=members) if u != message.sender_id]
        if not mentioned:
            return []
        blocked = await self._blocks.blocked_with(message.sender_id, mentioned)
        return [Tracked(u, message.conversation_id, message.seq) for u in mentioned
                if u not in blocked and not self._mail.online(u)]

    # -- mailing ----------------------------------------------------------------------------

    async def mail_due(self, limit: int = 50) -> int:
        """Mail every conversation due now; how many mails were written."""
        written = 0
        while True:
            async with self._store.claim_due(self._clock.now(), limit) as (conn, due):
                for one in due:
                    written += await self._mail_one(conn, one)
            if written:
                self._outbox.queued.set()
            if len(due) < limit:
                return written

    async def _mail_one(self, conn: asyncpg.Connection, due: DueMissed) -> int:
        sent = await self._compose(due.user_id, due.conversation_id, due.pending,
                                   due.mailed_through)
        mailed_through = due.mailed_through
        if sent is not None:
            mail, last = sent
            await self._outbox.queue(conn, mail.to, mail.subject, mail.text, html=mail.html,
                                     headers=mail.headers)
            mailed_through = max(mailed_through, last)
        await self._store.mailed(conn, due, mailed_through)
        return 1 if sent is not None else 0

    async def _compose(self, user_id: int, conversation_id: str, pending: list[int],
                       mailed_through: int) -> tuple[Any, int] | None:
        # A device connected since: the messages are in front of them, not in a mail.
        if self._mail.online(user_id):
            return None
        if not await self._preferences.wants(user_id, MISSED_MESSAGES, Channel.EMAIL):
            return None
        if await self._preferences.muted_among(conversation_id, [user_id]):
            return None
        conversation = await self._chat.get_conversation(conversation_id)
        member = conversation.member(user_id) if conversation else None
        if conversation is None or member is None:
            return None
        last = max(pending)
        found = await self._chat.messages(conversation_id, before=last + 1, after=None,
                                          limit=min(FETCHED, last - min(pending) + 1))
        unread = still_unread(found, user_id, pending, member.read_seq, mailed_through)
        if not unread:
            return None
        contacts = await self._mail.contacts.contacts(
            [user_id, *{m.sender_id for m in unread}])
        to = contacts.get(user_id)
        if to is None:
            return None
        name = {uid: c.name for uid, c in contacts.items()}
        shown = unread[-MAX_MAILED:]
        lines = [quote(m, name.get(m.sender_id, "Someone")) for m in shown]
        if len(unread) > len(shown):
            lines.insert(0, f"{len(unread) - len(shown)} earlier messages are not shown here.")
        senders = list(dict.fromkeys(name.get(m.sender_id, "Someone") for m in unread))
        mail = self._mail.compose(
            to, kind=MISSED_MESSAGES, subject=subject(conversation, senders, len(unread)),
            lines=lines, link=f"/chat?c={conversation_id}", link_text="Reply on Nirvana",
            why="You get this email because these messages were still unread "
                f"{int(self.delay.total_seconds())} s after they were sent, and no device "
                "of yours was connected.")
        return mail, last

    async def run(self) -> None:
        """Forever: flush what was tracked, and mail what is due."""
        while True:
            self._queued.clear()  # before the flush: a message tracked from here on wakes us
            try:
                await self.flush()
                await self.mail_due()
            except Exception:
                log.exception("missed-message mail failed; retrying at the next poll")
                stop_if_cancelled()
            try:
                await asyncio.wait_for(self._queued.wait(), self._poll)
            except TimeoutError:
                pass
