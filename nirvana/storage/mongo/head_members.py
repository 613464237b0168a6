"""Who is a member of a conversation at the writer's head: the rule that a message's audience
(who gets it live, and may resume it) is the membership at its position, kept where the
order is decided (docs/protocol.md, "Groups").

A send is drafted, and a receipt marked, with the members the instance's cache held when
it was checked; a membership change queued before it (or made through another instance)
may commit first, so the draft's audience can be from before a removal or an add. The
writer runs every membership change itself (changes.py `change_conversation`), so it
knows each one as it commits, and corrects the work it numbers after it: the audience
becomes the members at the head, and a sender or reader no longer among them is refused
`not_member`. Only conversations whose members changed in this tenure are held: for any
other, what the draft says is what is stored (one dict lookup per send). A new tenure
starts empty: another writer may have changed members meanwhile (docs/cluster-chat.md
lists the gap this leaves across a change of writer). A change whose outcome is unknown
leaves its conversation in doubt: its members are read from the store before the writer
numbers anything of it again (`read_doubted`), so the cost of a read falls only after a
failure.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Iterable, Sequence

from ...domain.chat.errors import NotMemberError
from .work_items import Mark, Send

# The writer's `_until_answered`: asks a read again until the store answers it.
Ask = Callable[..., Awaitable[Any]]

# Conversations whose members are held; past this many, the least recently changed one's
# members are let go and it is in doubt (read again before its next numbering), as a draft
# may wait before it is queued (an upload, an account's gate) for as long as it likes.
MAX_HELD = 10_000
# Conversations held in doubt; past this many, the oldest doubt is dropped and its drafts are
# trusted again: a draft is then wrong only if it waited, between its check and its
# numbering, through the membership changes of about MAX_HELD + MAX_DOUBTED other
# conversations in this tenure. Bounds the memory a long tenure holds (an id each).
MAX_DOUBTED = 10 * MAX_HELD


class HeadMembers:
    def __init__(self, db: Any, ask: Ask) -> None:
        self._db = db
        self._ask = ask
        self._members: dict[str, tuple[int, ...]] = {}
        # Conversations a change of unknown outcome left in doubt: neither the record
        # before it (it may have landed) nor a draft (checked before an earlier change
        # committed, maybe) says who their members are; the store does.
        # Insertion-ordered, so the oldest doubt is the one dropped past MAX_DOUBTED.
        self._doubted: dict[str, None] = {}
        # Moves with each `forget`: a change answered after it began another tenure does
        # not record its members in this one (changes.py `change_conversation`).
        self.generation = 0

    def _doubt(self, conversation_id: str) -> None:
        self._doubted.pop(conversation_id, None)
        self._doubted[conversation_id] = None
        while len(self._doubted) > MAX_DOUBTED:
            del self._doubted[next(iter(self._doubted))]

    def changed(self, conversation_id: str, member_ids: Sequence[int]) -> None:
        """A membership change committed: these are the members from its position on."""
        self._doubted.pop(conversation_id, None)
        self._members.pop(conversation_id, None)
        self._members[conversation_id] = tuple(member_ids)
        while len(self._members) > MAX_HELD:
            evicted = next(iter(self._members))
            del self._members[evicted]
            self._doubt(evicted)

    def unknown(self, conversation_id: str) -> None:
        """A change whose outcome is unknown (it may have landed): its members are read
        from the store before anything of it is numbered (`read_doubted`)."""
        self._members.pop(conversation_id, None)
        self._doubt(conversation_id)

    def forget(self) -> None:
        """Another tenure, or another process writes: what was held may be stale."""
        self._members.clear()
        self._doubted.clear()
        self.generation += 1

    async def read_doubted(self, conversation_ids: Iterable[str],
                           fence: Callable[[], None], *, until_done: bool = False) -> None:
        """Hold the stored members of those of `conversation_ids` in doubt; a conversation
        not found has no members. Nothing of this writer commits meanwhile, so the read
        follows every change it sent, but not a commit still travelling to the store after
        its client gave up on it (docs/cluster-chat.md says what that leaves). An error the
        store answers is raised (`until_done`: asked again), and the conversations stay in
        doubt for the next read."""
        if not self._doubted:
            return
        doubted = sorted({c for c in conversation_ids if c in self._doubted})
        if not doubted:
            return

        async def read() -> dict[str, tuple[int, ...]]:
            cursor = self._db.conversations.find({"_id": {"$in": doubted}},
                                                 {"member_ids": 1})
            return {d["_id"]: tuple(d.get("member_ids", ())) async for d in cursor}
        stored = await self._ask(read, fence, until_done=until_done)
        fence()  # a lead while it was read began another tenure, whose record starts empty
        for cid in doubted:
            self.changed(cid, stored.get(cid, ()))

    async def refuse_removed(self, primary: dict[tuple[int, str], Send],
                             stored_already: Callable[..., Awaitable[dict[Any, Any]]],
                             fence: Callable[[], None], *, until_done: bool = False) -> None:
        """Refuse `not_member`, and take out of `primary` (a batch's sends by retry key),
        the sends whose sender is not a member at the head; but one stored already (a retry
        whose first ack was lost) is answered with its message, as sends.py `_sort_out`
        answers a retry. The lookup is made only when some send would be refused; an error
        the store answers to it is raised (`until_done`: asked again).

        A send taken back (sends.py `_sort_out`) whose sender a change in the same run
        removed is refused too, or answered with its late copy if that is found: the one
        case where a withdrawn send is refused (docs/cluster-chat.md)."""
        if not self._members:
            return
        keys = [k for k, s in primary.items()
                if (members := self._members.get(s.draft.conversation_id)) is not None
                and s.draft.sender_id not in members]
        if not keys:
            return
        stored = await self._ask(lambda: stored_already(keys), fence, until_done=until_done)
        fence()  # past the await: a lead since is another tenure's to answer
        for key in keys:
            s = primary.pop(key)
            if (m := stored.get(key)) is not None:
                for send in [s, *s.duplicates]:
                    send.answer(m, False)
            else:
                s.refuse(NotMemberError())

    def send_audience(self, send: Send) -> tuple[int, ...] | None:
        """The audience `send`'s message gets at the head; None (and the send refused) when
        its sender is no longer a member."""
        members = self._members.get(send.draft.conversation_id)
        if members is None:
            return send.draft.audience
        if send.draft.sender_id not in members:
            send.refuse(NotMemberError())
            return None
        return members

    def marks(self, marks: list[Mark]) -> list[Mark]:
        """`marks` with their audience at the head; those of readers no longer members are
        refused `not_member` and left out."""
        if not self._members:
            return marks
        kept = []
        for mark in marks:
            members = self._members.get(mark.conversation_id)
            if members is not None:
                if mark.user_id not in members:
                    mark.refuse(NotMemberError())
                    continue
                mark.audience = members
            kept.append(mark)
        return kept
