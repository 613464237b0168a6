"""Changes to stored messages and conversations, and the port that applies them.

A change is decided by a pure *plan* function that the store calls with the current state,
inside the same serialized step that gives the resulting events their stream positions. So
the rules (who may edit, the member cap, who becomes owner) are checked against the state the
change is applied to, not a snapshot another command may have changed meanwhile, and a change
that changes nothing stores nothing and emits nothing: that is what makes every command
idempotent on retry.

The store hands each applied change to `on_applied` as it applies it, as it hands a new
message to `on_stored`: the domain updates its cache and announces the change there, so it
is announced in commit order with everything else, also when its caller stopped waiting
(answered `store_timeout`, or cancelled) and the change still ran later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Protocol

from ..errors import DomainError, UnavailableError
from .entities import ChatEvent, Conversation, EventType, Member, Message


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    type: EventType
    data: dict[str, Any]
    audience: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MessagePlan:
    """The message as it must be stored after the change, and the event announcing it."""

    message: Message
    event: PlannedEvent
    hide_for: int | None = None  # delete-for-me: hide from this user's history only


@dataclass(frozen=True, slots=True)
class ConversationPlan:
    """The new member list and group fields, and the events announcing them, in order."""

    members: list[Member]
    info: dict[str, str | None] = field(default_factory=dict)
    events: list[PlannedEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ErasedUpTo:
    """What an erasure's first phase covered: everything stored up to `position`, in these
    conversations (every one the sender ever wrote in)."""

    position: int
    conversation_ids: tuple[str, ...]


# A plan returns None when the change would change nothing (a retry, a repeated reaction).
MessagePlanner = Callable[[Message, Conversation], MessagePlan | None]
ConversationPlanner = Callable[[Conversation], ConversationPlan | None]
# What a change returns: the message as stored, its conversation and its event (None when
# nothing changed); the conversation and its events (empty when nothing changed).
MessageChanged = tuple[Message, Conversation, ChatEvent | None]
ConversationChanged = tuple[Conversation, list[ChatEvent]]


def outcome_unknown(exc: Exception) -> bool:
    """Whether a change that raised `exc` may have landed all the same: a store's
    unavailability (no answer in time, a stale read, a fence, a store down) or a driver
    error may hide a commit; the planner's refusals (not found, not allowed) wrote nothing."""
    return not isinstance(exc, DomainError) or isinstance(exc, UnavailableError)


class ChatChangeStore(Protocol):
    """Applies planned changes durably, each with fresh stream positions for its events."""

    async def change_message(self, conversation_id: str, seq: int, actor_id: int,
                             at: datetime, plan: MessagePlanner, *,
                             on_applied: Callable[[MessageChanged | None], None]
                             | None = None) -> MessageChanged:
        """Call `plan` with the stored message and its conversation and store the result.
        Raises NotFoundError when there is no such message. Returns the message as stored
        after the change, the conversation and the event (None when nothing changed).
        Raises UnavailableError (`store_timeout`) when the store did not answer in time;
        the change may still be applied later.

        `on_applied` is called once with what this returns, as soon as the change is
        applied (before this returns), also when the caller stopped waiting: the caller
        announces the change there. Called in commit order with the other writes'
        callbacks (`on_stored`, `on_recorded`), so what it announces keeps position order.
        Called with None when the change failed after its caller stopped waiting (it may
        have landed in part). If it raises, the store logs it and goes on."""
        ...

    async def change_conversation(self, conversation_id: str, actor_id: int, at: datetime,
                                  plan: ConversationPlanner, *,
                                  on_applied: Callable[[ConversationChanged | None], None]
                                  | None = None) -> ConversationChanged:
        """Call `plan` with the stored conversation and store the result; the events are
        empty when nothing changed. `on_applied`: as for `change_message`."""
        ...

    async def erase_sent(self, user_id: int) -> ErasedUpTo:
        """An erasure's first, long phase: tombstone every message `user_id` sent (text,
        attachments gone, deleted) and every copy of one (events, conversation summaries)
        stored up to a stream position, without holding up sends. Idempotent."""
        ...

    async def erase_sent_since(self, user_id: int, erased: ErasedUpTo) -> list[str]:
        """The second, short phase, with the chat's writes held: what was written past
        `erased.position` (a send, a change that rewrote a copy, a buffered summary); from
        then on refuse their sends. Returns the conversations it found besides
        `erased.conversation_ids`. On failure the account is erased again later."""
        ...

    async def messages_for(self, user_id: int, conversation_id: str, *, before: int | None,
                           after: int | None, limit: int) -> list[Message]:
        """Like ChatStore.messages, without the messages `user_id` deleted for themselves."""
        ...

    async def search(self, user_id: int, conversation_ids: list[str], terms: list[str],
                     prefix: str | None, limit: int) -> list[Message]:
        """Messages of those conversations holding every term (and a term starting with
        `prefix`), newest first; never deleted ones nor ones `user_id` hid."""
        ...

    async def co_member_ids(self, user_id: int) -> set[int]:
        """Everyone who shares a conversation with `user_id` (not `user_id`)."""
        ...

    async def prune_events(self, before: datetime) -> int:
        """Delete non-message events older than `before`; resumes from before the newest
        pruned position then get `resync_required`. Returns how many were deleted."""
        ...

    async def resume_floor(self) -> int:
        """Resuming from a position below this one cannot be complete (events were pruned)."""
        ...
