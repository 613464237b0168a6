"""Chat use cases: conversations, the one send path, history, receipts, resume.

`Messaging` receives its ports; the HTTP routes and the WebSocket endpoint both call it, so a
message sent over either path is validated, stored and delivered the same way.

Membership and each conversation's newest messages are read from `self.cache`
(`cache.py`): a use case that changes members or roles in the store must call
`self.cache.forget(conversation_id)`; one that changes a stored message must call
`self.cache.message_changed(message)`. Friendship and block checks are not cached: the
social graph changes them without telling chat, and one indexed query is cheap.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from functools import partial
from typing import Awaitable, Sequence

from ..accounts.standing import OpenGate, WriteGate
from ..clock import Clock
from ..errors import ConflictError, InvalidInputError, field_error
from ..uploads import IssuedUploads, NoUploads
from ..urls import MEDIA, validate_url
from ..text import check_key, check_text, is_blank
from ..upload_names import clean_attachment_name
from .cache import ChatCache
from .entities import (
    Attachment,
    Conversation,
    ConversationKind,
    Member,
    Message,
    MessageDraft,
    MessageKind,
    Peer,
    PeerRelation,
    Receipt,
    ReceiptKind,
    Role,
    StreamPage,
)
from .errors import BlockedError, NotFriendsError, NotMemberError
from .limits import ChatLimits
from .marks import held_mark, raise_mark
from .ports import ChatPeers, ChatStore, Publisher


def direct_key(a: int, b: int) -> str:
    lo, hi = sorted((a, b))
    return f"{lo}:{hi}"


class Messaging:
    """Conversations, the send path, history, receipts and resume; one part of the chat
    service (service.py), which shares its `cache` and `conversation_for` with the others."""

    def __init__(self, *, store: ChatStore, peers: ChatPeers, publisher: Publisher,
                 clock: Clock, limits: ChatLimits = ChatLimits(),
                 cache: ChatCache | None = None, write_gate: WriteGate = OpenGate(),
                 account_gate: WriteGate = OpenGate(),
                 uploads: IssuedUploads = NoUploads()) -> None:
        self._store = store
        self._uploads = uploads
        self._write_gate = write_gate
        # AccountExists: a send asks it as it starts (ChatService asks it for the other
        # use cases) and again right before it is queued: a deletion heard during the
        # send's checks stops it.
        self._account_gate = account_gate
        self._peers = peers
        self.publisher = publisher
        self._clock = clock
        self.limits = limits
        self.cache = cache if cache is not None else ChatCache()
        self._resume_reads = asyncio.Semaphore(limits.resume_reads)
        # Conversation reads under way, with the cache generation each started at: see
        # `_read_conversation`.
        self._reading: dict[str, tuple[int, asyncio.Task[Conversation | None]]] = {}

    # -- conversations --------------------------------------------------------------------

    async def check_direct_allowed(self, a: int, b: int) -> None:
        """Refuse unless `a` may message `b` directly: friends, and no block between them."""
        # Blocks first: a block must never be revealed as "not friends" or bypassed by one.
        relation = await self._peers.relation(a, b)
        if relation is PeerRelation.BLOCKED:
            raise BlockedError()
        if relation is not PeerRelation.FRIENDS:
            raise NotFriendsError()

    async def open_direct(self, user_id: int, other_id: int) -> Conversation:
        """The one direct conversation of the pair, created on first use. Friends only."""
        if other_id == user_id:
            raise field_error("user_id", "cannot open a conversation with yourself")
        await self.check_direct_allowed(user_id, other_id)
        key = direct_key(user_id, other_id)
        found = await self._store.find_direct(key)
        if found is not None:
            return found
        now = self._clock.now()
        conversation = Conversation(
            id=uuid.uuid4().hex, kind=ConversationKind.DIRECT,
            members=[Member(user_id, Role.MEMBER), Member(other_id, Role.MEMBER)],
            created_by=user_id, created_at=now, last_activity=now,
        )
        return await self._store.create_conversation(conversation, key)

    async def conversation_for(self, user_id: int, conversation_id: str) -> Conversation:
        """The conversation if `user_id` is a member; NotMemberError otherwise, also when it
        does not exist (so ids of others' conversations reveal nothing)."""
        conversation = self.cache.conversation(conversation_id)
        if conversation is None:
            conversation = await self._read_conversation(conversation_id)
        if conversation is None or conversation.member(user_id) is None:
            raise NotMemberError()
        return conversation

    async def _read_conversation(self, conversation_id: str) -> Conversation | None:
        """The conversation from the store, and cached. Requests that miss the cache while
        a read of the same conversation is under way share it, unless a change was
        forgotten since it started (a read from before a member's removal must serve no
        request that came after it): after a start, the first sends of a busy room all
        missed the cache at once and each read the conversation, a burst of store reads
        that held the first second's messages."""
        generation = self.cache.generation(conversation_id)
        reading = self._reading.get(conversation_id)
        if reading is None or reading[0] != generation:
            task = asyncio.get_running_loop().create_task(
                self._read_and_keep(conversation_id, generation))
            reading = self._reading[conversation_id] = (generation, task)
            task.add_done_callback(partial(self._read_done, conversation_id, reading))
        # Shielded: a request that goes away does not cancel the others' read.
        return await asyncio.shield(reading[1])

    async def _read_and_keep(self, conversation_id: str, generation: int
                             ) -> Conversation | None:
        conversation = await self._store.get_conversation(conversation_id)
        if conversation is not None:
            # Kept only if no change was forgotten meanwhile: a read that started before
            # a member's removal must not cache the old member list.
            conversation = self.cache.keep(conversation, generation)
        return conversation

    def _read_done(self, conversation_id: str,
                   reading: tuple[int, asyncio.Task[Conversation | None]],
                   task: asyncio.Task[Conversation | None]) -> None:
        if self._reading.get(conversation_id) is reading:
            del self._reading[conversation_id]
        if not task.cancelled():
            task.exception()  # each waiter gets it; retrieved here for when none is left

    async def friends(self, user_id: int) -> list[Peer]:
        """Whom the user can chat with directly (the seed's GET /api/messages/users)."""
        return await self._peers.friends(user_id)

    # -- messages -------------------------------------------------------------------------

    def _validate(self, kind: MessageKind, text: str, attachments: Sequence[Attachment],
                  reply_to: int | None) -> None:
        check_text(text, "text", self.limits.max_text, multiline=True)
        if len(attachments) > self.limits.max_attachments:
            raise field_error("attachments", f"at most {self.limits.max_attachments}",
                              "too_many")
        for i, a in enumerate(attachments):
            validate_url(a.url, "attachments.url", max_len=self.limits.max_url)
            if a.name is not None:  # the edges refuse first, with this path
                check_text(a.name, f"attachments.{i}.name")
            # An out-of-range number would fail the whole group-commit batch at encoding
            # time, taking other users' sends with it: refused here, per message.
            if a.size is not None and not 0 <= a.size <= 1 << 40:
                raise field_error("attachments.size", "must be 0 to 2^40 bytes")
        if reply_to is not None and not 0 < reply_to < 1 << 62:
            raise field_error("reply_to", "must be a seq of this conversation")
        if is_blank(text) and not attachments:
            raise field_error("text", "a message needs text or an attachment", "empty")
        if kind is not MessageKind.TEXT and not attachments:
            article = "an" if kind.value[0] in "aeiou" else "a"
            raise field_error("attachments",
                              f"{article} {kind.value} message needs an attachment")

    async def _as_uploaded(self, conversation: Conversation, kind: MessageKind,
                           attachments: Sequence[Attachment]
                           ) -> tuple[MessageKind, tuple[Attachment, ...]]:
        """A local attachment must be a URL the upload route issued to a member of this
        conversation: the sender's own file, or one another member shared here. So nobody
        can make a message point at a path of this site that was never an upload.

        Any attachment the ledger issued (a local path, or a Cloudinary URL) takes the
        upload's kind and size, whatever the send said, and so does a non-text message
        from its first attachment: clients render by them, so a PDF cannot pass as an
        image.

        Every attachment's name is cleaned as an upload's is, then cut to its bound
        (upload_names.py): it reaches the other members, and a bidi override in it would
        let "invoice<U+202E>gnp.exe" show as "invoiceexe.png". One sent without a name
        stays without one."""
        if not attachments:
            return kind, ()
        issued = await self._uploads.issued([a.url for a in attachments])
        members = set(conversation.member_ids)
        checked = []
        for a in attachments:
            upload = issued.get(a.url)
            if a.url.startswith(MEDIA) and (upload is None or upload.owner_id not in members):
                raise field_error("attachments.url", "must be an http(s) URL or a file "
                                  "uploaded by a member of this conversation", "not_uploaded")
            if upload is not None:
                a = replace(a, kind=MessageKind(upload.kind.value), size=upload.size)
            if a.name is not None:
                a = replace(a, name=clean_attachment_name(a.name))
            checked.append(a)
        if kind is not MessageKind.TEXT and attachments[0].url in issued:
            kind = checked[0].kind
        return kind, tuple(checked)

    async def send_message(self, user_id: int, conversation_id: str, *, client_id: str,
                           text: str = "", kind: MessageKind = MessageKind.TEXT,
                           attachments: Sequence[Attachment] = (),
                           reply_to: int | None = None) -> tuple[Message, bool]:
        """Store and deliver a message; returns it and whether it is new.

        Idempotent by (sender, client_id): a retry returns the stored message, unchanged,
        and delivers nothing again. The answer comes only once the store has the message.
        """
        stored = await self.submit_message(user_id, conversation_id, client_id=client_id,
                                           text=text, kind=kind, attachments=attachments,
                                           reply_to=reply_to)
        return await asyncio.shield(stored)

    async def submit_message(self, user_id: int, conversation_id: str, *, client_id: str,
                             text: str = "", kind: MessageKind = MessageKind.TEXT,
                             attachments: Sequence[Attachment] = (),
                             reply_to: int | None = None
                             ) -> asyncio.Task[tuple[Message, bool]]:
        """`send_message` in two steps, for a caller that pipelines: validate, check and
        queue the write (raising on a refused send), then return a task that ends with the
        stored message. Writes queue in call order, so seqs follow it. The message is
        delivered when it is stored, whether or not anyone waits on the task; cancelling
        the task only stops that answer."""
        # Before the send's reads: one answered only after another process was the writer
        # (which may have deleted the account, removed the member) gets the send refused.
        admitted = self._store.admission()
        await self._account_gate.check(user_id)
        check_key(client_id, "client_id", 64)
        self._validate(kind, text, attachments, reply_to)
        await self._write_gate.check(user_id)
        conversation = await self.conversation_for(user_id, conversation_id)
        if conversation.kind is ConversationKind.DIRECT:
            (other,) = [m for m in conversation.member_ids if m != user_id]
            await self.check_direct_allowed(user_id, other)
        if reply_to is not None and reply_to > conversation.last_seq:
            raise field_error("reply_to", "no such message in this conversation")
        try:
            kind, attachments = await self._as_uploaded(conversation, kind, attachments)
        except InvalidInputError:
            # A retry of a send stored before its file was deleted gets what is stored, as
            # every retry does (docs/protocol.md). Looked up only on this refusal: a send
            # whose attachments pass pays nothing for it.
            earlier = await self._store.sent(user_id, client_id)
            if earlier is None:
                raise
            return asyncio.get_running_loop().create_task(
                self._delivered(conversation, user_id, _stored_already(earlier)))
        draft = MessageDraft(
            conversation_id=conversation.id, sender_id=user_id, client_id=client_id,
            kind=kind, text=text, attachments=tuple(attachments), reply_to=reply_to,
            audience=conversation.member_ids, created_at=self._clock.now(),
        )
        # From memory when the sender is cached (no await until it is queued): a send
        # that passes this is queued before any later deletion is heard here.
        await self._account_gate.check(user_id)
        # Queued now, in call order; the task only waits for the store's answer.
        # Delivered by the store as it is stored (`on_stored`), in the turn the store
        # answers: the task below would deliver it a turn later.
        stored = self._store.append(draft, admitted=admitted,
                                    on_stored=partial(self._posted, conversation, user_id))
        return asyncio.get_running_loop().create_task(
            self._delivered(conversation, user_id, stored))

    async def _delivered(self, conversation: Conversation, user_id: int,
                         stored: Awaitable[tuple[Message, bool]]) -> tuple[Message, bool]:
        """The store's answer, for the sender: a new message is delivered already
        (`on_stored`)."""
        message, created = await stored
        if message.conversation_id != conversation.id:
            raise ConflictError("This client_id was already used for another "
                                "conversation.", code="client_id_reused")
        return message, created

    def _posted(self, conversation: Conversation, user_id: int, message: Message) -> None:
        """A new message is stored (the store's `on_stored`): update the cached state and
        deliver it live, whether or not its sender still waits."""
        self.cache.appended(message)
        # A send that landed late keeps its older seq and may follow a newer message: the
        # newest stays the last (docs/protocol.md, "Ordering and delivery guarantees").
        if message.seq >= conversation.last_seq:
            conversation.last_seq = message.seq
            conversation.last_message = message
            conversation.last_activity = message.created_at
        # Sending means having read (so received) everything before, as the stored summary
        # records it (summary_buffer.py): answers built from this copy say the same.
        raise_mark(conversation, user_id, ReceiptKind.READ, message.seq)
        self.publisher.message_posted(message, conversation)

    async def send_direct(self, user_id: int, other_id: int, **send) -> tuple[Message, bool]:
        conversation = await self.open_direct(user_id, other_id)
        return await self.send_message(user_id, conversation.id, **send)

    async def history(self, user_id: int, conversation_id: str, *, before: int | None = None,
                      after: int | None = None, limit: int = 50) -> list[Message]:
        conversation = await self.conversation_for(user_id, conversation_id)
        limit = max(1, min(limit, self.limits.max_page))
        if before is None and after is None and limit <= self.cache.recent_size:
            found = self.cache.latest(conversation_id, conversation.last_seq, limit)
            if found is not None:
                return found
            generation = self.cache.generation(conversation_id)
            newest = await self._store.messages(conversation_id, before=None, after=None,
                                                limit=self.cache.recent_size)
            self.cache.fill(conversation_id, newest, generation)
            return newest[-limit:]
        return await self._store.messages(conversation_id, before=before, after=after,
                                          limit=limit)

    async def message_at(self, conversation_id: str, seq: int) -> Message | None:
        """One message, whoever asks: for a site moderator reviewing a report (the caller
        has checked the role). None when there is no such message."""
        found = await self._store.messages(conversation_id, before=None, after=seq - 1,
                                           limit=1)
        return found[0] if found and found[0].seq == seq else None

    async def direct_with(self, user_id: int, other_id: int) -> Conversation | None:
        """The pair's direct conversation, None when none exists yet; BlockedError when
        none exists and a block separates them."""
        found = await self._store.find_direct(direct_key(user_id, other_id))
        if found is None and await self._peers.is_blocked_either_way(user_id, other_id):
            raise BlockedError()
        return found

    # -- receipts -------------------------------------------------------------------------

    async def mark(self, user_id: int, conversation_id: str, kind: ReceiptKind, seq: int
                   ) -> Conversation:
        """Raise the caller's delivered or read watermark. Idempotent: a lower or equal seq
        changes nothing and delivers nothing."""
        conversation = await self.conversation_for(user_id, conversation_id)
        seq = min(max(seq, 0), conversation.last_seq)
        if seq <= held_mark(conversation, user_id, kind):
            # Nothing to store (the sender's own read, a repeated delivered): a cached mark
            # is never above what is stored or will be, as it was read from the store
            # (summaries applied), raised by a send once its message was stored (its
            # summary buffered; a writer taking over recovers it from the message), or by
            # a mark once the writer answered it.
            return conversation
        # Announced by the store as it is stored (`_recorded`), as a send's message is;
        # `announced` says whether it announced the conversation, which the cache looked
        # at again here (two turns later: filled or forgotten meanwhile) cannot tell.
        announced: list[bool] = []
        receipt = await self._store.record_receipt(conversation.id, user_id, kind, seq,
                                                   conversation.member_ids,
                                                   on_recorded=partial(self._recorded,
                                                                       announced))
        current = self.cache.conversation(conversation_id)
        if current is None or current.member(user_id) is None:
            # Forgotten since it was read (a change landed meanwhile: its members, its last
            # message): read again (NotMemberError if they were removed).
            current = await self.conversation_for(user_id, conversation_id)
        # Idempotent; also catches up a copy cached since that was read before the mark
        # was stored, or marks that lag when nothing was stored (already that high).
        raise_mark(current, user_id, kind, seq)
        if receipt is not None and not announced:
            self.publisher.conversation_changed(current, (user_id,))
        return current

    def _recorded(self, announced: list[bool], receipt: Receipt | None) -> None:
        """The store has a receipt (its `on_recorded`): its mark is raised in the cached
        conversation, which is announced to the reader (and added to `announced`, `mark`'s
        record) and the receipt to its members. Only what is cached now, never the copy
        read before the mark was queued: a change applied meanwhile (a delete for everyone
        of the last message, an erasure, a member's removal) forgot that copy. Forgotten,
        the receipt alone goes to the audience it was stored with, as a resume from before
        it replays it to them (the members' ticks stay live: the writer gave
        it the members at its position); `mark` announces the conversation, read again,
        to the reader if it still waits."""
        if receipt is None:
            return
        conversation = self.cache.conversation(receipt.conversation_id)
        if conversation is None or conversation.member(receipt.user_id) is None:
            self.publisher.receipt_recorded(receipt)
            return
        raise_mark(conversation, receipt.user_id, receipt.kind, receipt.seq)
        members = conversation.member_ids
        self.publisher.receipt_recorded(
            receipt if members == receipt.audience else replace(receipt, audience=members))
        self.publisher.conversation_changed(conversation, (receipt.user_id,))
        announced.append(True)

    # -- live only ------------------------------------------------------------------------

    async def typing(self, user_id: int, conversation_id: str, active: bool) -> None:
        conversation = await self.conversation_for(user_id, conversation_id)
        others = [m for m in conversation.member_ids if m != user_id]
        # A block ends what two people tell each other live, as it refuses their sends.
        if others and (blocked := await self._peers.blocked_with(user_id, others)):
            others = [m for m in others if m not in blocked]
        self.publisher.typing(conversation.id, user_id, active, others)

    async def head(self) -> int:
        return await self._store.head()

    async def resume(self, user_id: int, since: int) -> StreamPage:
        """What `user_id` missed after position `since`, in order; `truncated` when more than
        the resume window is missing (the client must then refetch over HTTP)."""
        async with self._resume_reads:
            return await self._store.stream_since(user_id, max(0, since),
                                                  self.limits.resume_window)


async def _stored_already(message: Message) -> tuple[Message, bool]:
    return message, False
