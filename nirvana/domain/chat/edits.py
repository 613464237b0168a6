"""Edits, deletes and reactions: changes to a stored message, each a durable event.

Who may do what: only the sender edits; the sender deletes for everyone, and so do a
group's owner and admins (moderation); anyone who can read a message deletes it for
themselves; any member reacts. Every change is idempotent: the plans below return None when
the stored message already is as asked (a retry), and then nothing is stored or sent.
"""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import datetime
from functools import partial

from .cache import ChatCache
from .changes import (
    ChatChangeStore,
    MessageChanged,
    MessagePlan,
    MessagePlanner,
    PlannedEvent,
    outcome_unknown,
)
from .limits import ChatLimits
from .entities import Conversation, ConversationKind, EventType, Message, Role
from .ports import Publisher
from .errors import MessageDeletedError, NotAllowedError
from .rules import Membership, member_of
from ..errors import field_error
from ..text import check_text, is_blank
from ..clock import Clock

MAX_EMOJI_CHARS = 32  # code points: flags and ZWJ sequences run to ~10


def check_emoji(emoji: str) -> str:
    """An emoji is a short run of non-ASCII symbols (no text, no spaces, no shortcodes)."""
    if not 1 <= len(emoji) <= MAX_EMOJI_CHARS or emoji.isascii() or any(
            ch.isspace() or unicodedata.category(ch).startswith(("C", "L", "N"))
            and ch not in "\u200d\ufe0f" for ch in emoji):
        raise field_error("emoji", "must be an emoji (1 to 32 symbols, no text)")
    return emoji


def plan_edit(user_id: int, text: str, at: datetime, limits: ChatLimits) -> MessagePlanner:
    def plan(m: Message, c: Conversation) -> MessagePlan | None:
        member_of(c, user_id)
        if m.sender_id != user_id:
            raise NotAllowedError("Only the sender can edit a message.")
        if m.deleted:
            raise MessageDeletedError()
        if m.text == text:
            return None  # a retry, or no change: no second event
        check_text(text, "text", limits.max_text, multiline=True)
        if is_blank(text) and not m.attachments:
            raise field_error("text", "a message needs text or an attachment", "empty")
        edited = replace(m, text=text, edited_at=at)
        return MessagePlan(edited, PlannedEvent(EventType.MESSAGE_EDITED, {"seq": m.seq},
                                                _shown_to(m, c)))
    return plan


def plan_delete(user_id: int, for_everyone: bool) -> MessagePlanner:
    def plan(m: Message, c: Conversation) -> MessagePlan | None:
        me = member_of(c, user_id)
        if not for_everyone:
            # The store skips the event when the message is already hidden for this user.
            return MessagePlan(m, PlannedEvent(EventType.MESSAGE_DELETED,
                                               {"seq": m.seq, "scope": "me"}, (user_id,)),
                               hide_for=user_id)
        moderator = c.kind is ConversationKind.GROUP and me.role in (Role.OWNER, Role.ADMIN)
        if m.sender_id != user_id and not moderator:
            raise NotAllowedError("Only the sender (or a group's owner or admin) can delete "
                                  "a message for everyone.")
        return tombstone(m, c)
    return plan


def tombstone(m: Message, c: Conversation) -> MessagePlan | None:
    """Delete for everyone: text, attachments and reactions cleared, every member told."""
    if m.deleted:
        return None
    emptied = replace(m, text="", attachments=(), reactions=(), deleted=True)
    return MessagePlan(emptied, PlannedEvent(
        EventType.MESSAGE_DELETED, {"seq": m.seq, "scope": "everyone"}, _shown_to(m, c)))


def plan_reaction(user_id: int, emoji: str, add: bool, limits: ChatLimits) -> MessagePlanner:
    def plan(m: Message, c: Conversation) -> MessagePlan | None:
        member_of(c, user_id)
        if m.deleted:
            raise MessageDeletedError()
        reactions = {e: list(users) for e, users in m.reactions}
        users = reactions.get(emoji, [])
        if add == (user_id in users):
            return None  # a set operation: already there / already gone
        if add:
            if emoji not in reactions and len(reactions) >= limits.max_reactions:
                raise field_error("emoji", f"a message has at most {limits.max_reactions} "
                                  "different reactions", "too_many")
            reactions[emoji] = users + [user_id]
        else:
            users.remove(user_id)
            reactions[emoji] = users
        updated = replace(m, reactions=tuple((e, tuple(u)) for e, u in reactions.items() if u))
        return MessagePlan(updated, PlannedEvent(
            EventType.REACTION, {"seq": m.seq, "emoji": emoji, "user_id": user_id,
                                 "added": add}, _shown_to(m, c)))
    return plan


def _shown_to(m: Message, c: Conversation) -> tuple[int, ...]:
    """Who is told of a change to `m`: the members, less those who hid it for themselves,
    whose clients dropped it on their `message.deleted` (`scope: me`); a later change would
    bring it back to them. A resume applies the same rule (storage/mongo/resume.py)."""
    return tuple(u for u in c.member_ids if m.visible_to(u))


class MessageEdits:
    """The edit, delete and react use cases; one part of the chat service (service.py)."""

    def __init__(self, *, membership: Membership, changes: ChatChangeStore, cache: ChatCache,
                 publisher: Publisher, clock: Clock, limits: ChatLimits) -> None:
        self._membership = membership
        self._changes = changes
        self._cache = cache
        self._publisher = publisher
        self._clock = clock
        self.limits = limits

    async def _change_message(self, user_id: int, conversation_id: str, seq: int,
                              plan: MessagePlanner) -> Message:
        await self._membership(user_id, conversation_id)  # non-members learn nothing
        return await self._apply(user_id, conversation_id, seq, plan)

    async def _apply(self, user_id: int, conversation_id: str, seq: int,
                     plan: MessagePlanner) -> Message:
        try:
            # Cached and announced by the store as it is applied (`_applied`), as a send's
            # message is (`on_stored`): in commit order, also if this caller stops waiting.
            message, _, _ = await self._changes.change_message(
                conversation_id, seq, user_id, self._clock.now(), plan,
                on_applied=partial(self._applied, conversation_id))
        except Exception as exc:
            # The planner's refusals (deleted, not found, not allowed) wrote nothing: the
            # cached page stays, or any member could make a busy room's cache thrash.
            if outcome_unknown(exc):
                self._forget_in_doubt(conversation_id)
            raise
        return message

    def _applied(self, conversation_id: str, changed: MessageChanged | None) -> None:
        """The store applied a change (its `on_applied`): it is cached and announced; or
        one whose caller stopped waiting failed (None), which may have landed in part."""
        if changed is None:
            self._forget_in_doubt(conversation_id)
            return
        message, conversation, event = changed
        if event is not None:
            self._cache.message_changed(message)  # see cache.py: the recent-page rule
            # Its last_message may change; and a read under way is not cached.
            self._cache.forget_conversation_only(conversation_id)
            self._publisher.event_recorded(event, conversation)

    def _forget_in_doubt(self, conversation_id: str) -> None:
        """A change whose outcome is unknown may have landed (an answer lost, a commit left
        in doubt, one answered `store_timeout` that is still to run): the cached page is
        read again rather than served without it. A page read before such a change is
        applied is cached without it: `_applied` puts the change in when it is, or forgets
        again when it failed (which may be in doubt too)."""
        self._cache.forget(conversation_id)

    async def edit_message(self, user_id: int, conversation_id: str, seq: int, text: str
                           ) -> Message:
        """Replace the text of one's own message; sets `edited_at`."""
        return await self._change_message(user_id, conversation_id, seq,
                                          plan_edit(user_id, text, self._clock.now(),
                                                    self.limits))

    async def delete_message(self, user_id: int, conversation_id: str, seq: int, *,
                             for_everyone: bool) -> Message:
        """For everyone: a tombstone (text, attachments and reactions cleared). For me: the
        message leaves my history and search only."""
        return await self._change_message(user_id, conversation_id, seq,
                                          plan_delete(user_id, for_everyone))

    async def remove_as_moderator(self, moderator_id: int, conversation_id: str,
                                  seq: int) -> Message:
        """A site moderator's delete for everyone, from outside the conversation: the same
        tombstone and live event as the sender's. The caller (domain/moderation) has checked
        the role; NotFoundError when there is no such message."""
        return await self._apply(moderator_id, conversation_id, seq, tombstone)

    async def react(self, user_id: int, conversation_id: str, seq: int, emoji: str,
                    add: bool = True) -> Message:
        return await self._change_message(user_id, conversation_id, seq,
                                          plan_reaction(user_id, check_emoji(emoji), add,
                                                        self.limits))
