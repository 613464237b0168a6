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
lists the gap this leaves across a change of writer).
"""

from __future__ import annotations

from typing import Sequence

from ...domain.chat.errors import NotMemberError
from .work_items import Mark, Send

# Conversations whose members are held, the oldest change forgotten past this many: a
# draft is checked against the cache moments before it is queued, so only recent changes
# can be missing from one.
MAX_HELD = 10_000


class HeadMembers:
    def __init__(self) -> None:
        self._members: dict[str, tuple[int, ...]] = {}

    def changed(self, conversation_id: str, member_ids: Sequence[int]) -> None:
        """A membership change committed: these are the members from its position on."""
        self._members.pop(conversation_id, None)
        self._members[conversation_id] = tuple(member_ids)
        while len(self._members) > MAX_HELD:
            del self._members[next(iter(self._members))]

    def unknown(self, conversation_id: str) -> None:
        """A change whose outcome is unknown (it may have landed): drafts say again."""
        self._members.pop(conversation_id, None)

    def forget(self) -> None:
        """Another tenure, or another process writes: what was held may be stale."""
        self._members.clear()

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
