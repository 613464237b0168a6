"""Notification use cases: the rules that turn what happened into what someone is told, and
the recipient's list (page, unread count, mark read, delete).

Nobody calls the rules from a route: the social graph and blogs publish domain events
(`domain/social/events.py`, `domain/blogs/events.py`) and `bootstrap.py` hands them to
`Notifications.handle`. The rules:

- nothing about your own actions, and nothing from or about someone on either side of a
  block (a block also withdraws what was still unread between the two);
- reactions (likes among them) on one blog within one window are one notification with
  every reactor;
- undoing an action (unlike, unfollow, a withdrawn request, a deleted comment) withdraws its
  unread notification; a read one stays, as a letter already opened does;
- a mention notifies only someone who can see the text (no block with its author);
- a notification about a blog is shown (listed, counted, told) only while its recipient may
  read that blog, and a friend request, a follow or a reaction only while one of its senders'
  accounts exists: the store's reading rule, so it holds again when the blog comes back.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import Awaitable, Callable, Collection, Sequence

from ..blogs.events import (
    BlogEvent,
    BlogPublished,
    BlogReactionCleared,
    BlogReacted,
    BlogReadersChanged,
    CommentAdded,
    CommentDeleted,
)
from ..blogs.model import Audience as BlogAudience
from ..clock import Clock
from ..errors import NotFoundError
from ..social.events import (
    Blocked,
    Followed,
    FriendRequestAccepted,
    FriendRequestSent,
    FriendRequestWithdrawn,
    SocialEvent,
    Unfollowed,
)
from .entities import MIXED_REACTIONS, Change, Draft, Kind, Page, Position
from .mailing import NotificationMail
from .policy import NotificationPolicy, like_group, mentions, resolve, usernames
from .ports import Audience, LiveNotifications, NotificationStore
from .preferences import Channel, Preferences

log = logging.getLogger("nirvana.notifications")

FAN_OUT_BATCH = 1000  # recipients per statement when one event tells many


class NobodyListening:
    """For tests of the rules alone: changes go nowhere live."""

    async def changed(self, change: Change) -> None:
        pass


class Notifications:
    def __init__(self, *, store: NotificationStore, audience: Audience, clock: Clock,
                 live: LiveNotifications | None = None,
                 policy: NotificationPolicy | None = None,
                 preferences: Preferences | None = None,
                 mail: NotificationMail | None = None) -> None:
        self._store = store
        self._audience = audience
        self._clock = clock
        self._live = live if live is not None else NobodyListening()
        self.policy = policy if policy is not None else NotificationPolicy()
        # Without preferences (unit tests of the rules alone) everything is told in the app.
        self.preferences = preferences
        self.mail = mail
        self._likes = Coalescer(self._deliver_many)
        self._telling: set[asyncio.Task] = set()  # readers-changed fan-outs under way

    # -- the entry other features may call directly -------------------------------------

    async def notify(self, recipient_id: int, text: str, *, subject: str,
                     actor_id: int | None = None) -> None:
        """Tell `recipient_id` something from the system ("your export is ready"); `subject`
        names what it is about, so a repeat while unread is one notification."""
        await self._deliver(Draft(recipient_id, Kind.NOTICE, actor_id, subject,
                                  f"notice:{subject}", text=text))

    async def report_handled(self, recipient_id: int, case_id: int, text: str) -> None:
        """Tell a reporter that a moderator closed their case, and how (`text`)."""
        subject = f"report:{case_id}"
        await self._deliver(Draft(recipient_id, Kind.REPORT_HANDLED, None, subject, subject,
                                  text=text))

    # -- the rules: domain events in -----------------------------------------------------

    async def handle(self, event: SocialEvent | BlogEvent) -> None:
        """One event of another feature, after its change is stored."""
        match event:
            case FriendRequestSent(sender, recipient):
                await self._deliver(Draft(recipient, Kind.FRIEND_REQUEST, sender,
                                          f"user:{sender}", f"friend_request:{sender}"))
            case FriendRequestWithdrawn(sender, recipient):
                await self._withdraw(Kind.FRIEND_REQUEST, f"user:{sender}",
                                     recipient_id=recipient)
            case FriendRequestAccepted(accepter, requester):
                # The request is answered: it no longer asks anything of the accepter.
                await self._withdraw(Kind.FRIEND_REQUEST, f"user:{requester}",
                                     recipient_id=accepter)
                await self._deliver(Draft(requester, Kind.FRIEND_ACCEPTED, accepter,
                                          f"user:{accepter}", f"friend_accepted:{accepter}"))
            case Followed(follower, followee):
                await self._deliver(Draft(followee, Kind.NEW_FOLLOWER, follower,
                                          f"user:{follower}", f"follow:{follower}"))
            case Unfollowed(follower, followee):
                await self._withdraw(Kind.NEW_FOLLOWER, f"user:{follower}",
                                     recipient_id=followee, actor_id=follower)
            case Blocked(blocker, blocked):
                for recipient in await self._store.withdraw_between(blocker, blocked):
                    await self._tell(recipient)
            case BlogPublished():
                await self._blog_published(event)
            case BlogReacted(blog_id, author_id, reactor_id, kind):
                # A like is a reaction: every kind takes this one path and coalesces with
                # the others on the blog within the window ("Ann and 3 others reacted").
                group = like_group(blog_id, self._clock.now(), self.policy.like_window)
                await self._likes.add(Draft(author_id, Kind.BLOG_LIKED, reactor_id,
                                            f"blog:{blog_id}", group, blog_id=blog_id,
                                            text=kind.value))
            case BlogReactionCleared(blog_id, author_id, reactor_id):
                self._likes.forget(author_id, f"blog:{blog_id}", reactor_id)
                await self._withdraw(Kind.BLOG_LIKED, f"blog:{blog_id}",
                                     recipient_id=author_id, actor_id=reactor_id)
            case CommentAdded():
                await self._comment_added(event)
            case CommentDeleted():
                await self._comment_deleted(event)
            case BlogReadersChanged(blog_id):
                # After the answer, not in it: a hide's or an audience change's holders may
                # be every follower of the author, and the list is right without the frame.
                task = asyncio.get_running_loop().create_task(self._readers_changed(blog_id))
                self._telling.add(task)
                task.add_done_callback(self._telling.discard)
            case _:
                pass  # events about something nobody is told of (FriendshipChanged)

    async def _blog_published(self, event: BlogPublished) -> None:
        subject = f"blog:{event.blog_id}"
        mentioned = await self._mentioned(f"{event.title}\n{event.body}")
        followers = [u for u in await self._audience.followers(event.author_id)
                     if u not in mentioned and u != event.author_id]
        if event.audience is not BlogAudience.PUBLIC:
            # A blog outside someone's audience does not exist for them: neither a mention
            # nor a new-blog notification may show them its title. (A block is _deliver's.)
            admitted = set(await self._audience.may_read(
                event.author_id, event.audience.value, [*mentioned, *followers]))
            mentioned = [u for u in mentioned if u in admitted]
            followers = [u for u in followers if u in admitted]
        if self.preferences is not None:
            off = await self.preferences.refusing(Kind.NEW_BLOG, Channel.APP, followers)
            followers = [u for u in followers if u not in off]
        for user_id in mentioned:
            await self._deliver(Draft(user_id, Kind.MENTIONED, event.author_id, subject,
                                      f"mention:{subject}", blog_id=event.blog_id))
        # Blocks end follows, so no follower is blocked; a mention already told its reader.
        # Written in batches: an author may have many followers, and this runs in the
        # request that published.
        draft = Draft(0, Kind.NEW_BLOG, event.author_id, subject, f"new_blog:{event.blog_id}",
                      blog_id=event.blog_id)
        for start in range(0, len(followers), FAN_OUT_BATCH):
            batch = followers[start:start + FAN_OUT_BATCH]
            stored = await self._store.add_for_each(batch, draft, self._clock.now())
            counts = await self._store.unread_counts([n.recipient_id for n in stored])
            for n in stored:
                unread = counts.get(n.recipient_id, 0)
                await self._live.changed(Change(n.recipient_id, n, unread))

    async def _readers_changed(self, blog_id: int) -> None:
        # The list shows a blog's notifications only to who may read it now (the store's
        # reading rule), so nothing is withdrawn: whoever holds one unread is told the count,
        # their client's cue to refetch. In batches, as a new blog's fan-out: a hidden blog
        # may have told every follower of its author.
        try:
            holders = await self._store.unread_about_blog(blog_id)
            for start in range(0, len(holders), FAN_OUT_BATCH):
                batch = holders[start:start + FAN_OUT_BATCH]
                counts = await self._store.unread_counts(batch)
                for user_id in batch:
                    await self._live.changed(Change(user_id, None, counts.get(user_id, 0)))
        except Exception:  # in the background: nobody else would hear of it
            log.exception("telling a blog's readers failed", extra={"blog_id": blog_id})

    async def _comment_added(self, event: CommentAdded) -> None:
        subject = f"comment:{event.comment_id}"
        await self._deliver(Draft(event.blog_author_id, Kind.BLOG_COMMENTED,
                                  event.commenter_id, subject, f"comment:{event.comment_id}",
                                  blog_id=event.blog_id, comment_id=event.comment_id))
        for user_id in await self._mentioned(event.body):
            if user_id == event.blog_author_id:
                continue  # already told of this comment
            # Whoever can read the blog can read its comments.
            if not await self._audience.can_read_blog(user_id, event.blog_id):
                continue
            await self._deliver(Draft(user_id, Kind.MENTIONED, event.commenter_id, subject,
                                      f"mention:{subject}", blog_id=event.blog_id,
                                      comment_id=event.comment_id))

    async def _comment_deleted(self, event: CommentDeleted) -> None:
        subject = f"comment:{event.comment_id}"
        # The comment's store may have deleted them with it (PostgreSQL's): then the event
        # names whom they told.
        told = {*await self._store.withdraw(Kind.BLOG_COMMENTED, subject),
                *await self._store.withdraw(Kind.MENTIONED, subject), *event.notified}
        for user_id in sorted(told):
            await self._tell(user_id)

    async def added_to_group(self, *, conversation_id: str, name: str | None, actor_id: int,
                             user_ids: Sequence[int]) -> None:
        """Members added to a group (also at its creation) by `actor_id`."""
        for user_id in user_ids:
            await self._deliver(Draft(user_id, Kind.ADDED_TO_GROUP, actor_id,
                                      f"group:{conversation_id}", f"group:{conversation_id}",
                                      text=name, conversation_id=conversation_id))

    async def removed_from_group(self, *, conversation_id: str, user_ids: Sequence[int]
                                 ) -> None:
        """The undo of an addition: its unread notification is withdrawn."""
        for user_id in user_ids:
            await self._withdraw(Kind.ADDED_TO_GROUP, f"group:{conversation_id}",
                                 recipient_id=user_id)

    async def group_role_given(self, *, conversation_id: str, name: str | None,
                               actor_id: int, user_id: int, role: str) -> None:
        """Made admin or owner of a group; becoming a plain member again tells nobody."""
        article = "the" if role == "owner" else "an"
        where = name or "a group chat"
        await self._deliver(Draft(user_id, Kind.GROUP_ROLE, actor_id,
                                  f"group:{conversation_id}",
                                  f"group_role:{conversation_id}:{role}",
                                  text=f"{article} {role} of {where}",
                                  conversation_id=conversation_id))

    async def chat_mentioned(self, *, conversation_id: str, name: str | None, seq: int,
                             sender_id: int, members: tuple[int, ...], text: str) -> None:
        """A group message was stored: tell the members it mentions (not across a block,
        not in a conversation they muted). Mentions of one group coalesce while unread."""
        mentioned = await self._mentioned(text, among=members)
        if self.preferences is not None and mentioned:
            muted = await self.preferences.muted_among(conversation_id, mentioned)
            mentioned = [u for u in mentioned if u not in muted]
        for user_id in mentioned:
            await self._deliver(Draft(user_id, Kind.MENTIONED, sender_id,
                                      f"message:{conversation_id}:{seq}",
                                      f"mention:chat:{conversation_id}", text=name,
                                      conversation_id=conversation_id))

    async def _mentioned(self, text: str, among: Collection[int] | None = None) -> list[int]:
        mentioned = mentions(text)
        if not mentioned:
            return []
        return resolve(mentioned, await self._audience.user_ids(usernames(mentioned)), among)

    async def _deliver(self, draft: Draft) -> None:
        if draft.actor_id is not None:
            if draft.actor_id == draft.recipient_id:
                return  # nothing about your own actions
            if await self._audience.blocked_either_way(
                    draft.actor_id, draft.recipient_id):
                return
        in_app = self.preferences is None or await self.preferences.wants(
            draft.recipient_id, draft.kind, Channel.APP)
        stored = await self._store.add(draft, self._clock.now()) if in_app else None
        if stored is not None:
            await self._live.changed(Change(draft.recipient_id, stored,
                                            await self._store.unread_count(draft.recipient_id)))
        # Mailed when it is news: not for a repeat the unread list already holds.
        if self.mail is not None and (stored is not None or not in_app):
            try:
                await self.mail.offline(draft, self._clock.now())
            except Exception:  # the notification itself must not fail with its mail
                log.exception("notification mail failed", extra={"kind": draft.kind.value})

    async def _deliver_many(self, draft: Draft, actor_ids: list[int]) -> None:
        """`draft` from each of `actor_ids` at once: one statement, one change told (a like
        storm writes one batch per round trip, not one locked update per like)."""
        actors = [a for a in dict.fromkeys(actor_ids) if a != draft.recipient_id]
        if not actors:
            return
        blocked = await self._audience.blocked_among(draft.recipient_id, actors)
        actors = [a for a in actors if a not in blocked]
        if not actors:
            return
        if self.preferences is not None and not await self.preferences.wants(
                draft.recipient_id, draft.kind, Channel.APP):
            return
        stored = await self._store.add_actors(draft, actors, self._clock.now())
        if stored is not None:
            await self._live.changed(Change(draft.recipient_id, stored,
                                            await self._store.unread_count(draft.recipient_id)))

    async def _withdraw(self, kind: Kind, subject: str, *, recipient_id: int | None = None,
                        actor_id: int | None = None) -> None:
        for recipient in await self._store.withdraw(kind, subject, recipient_id=recipient_id,
                                                    actor_id=actor_id):
            await self._tell(recipient)

    async def _tell(self, recipient_id: int) -> None:
        await self._live.changed(
            Change(recipient_id, None, await self._store.unread_count(recipient_id)))

    async def settled(self) -> None:
        """Wait until every batch of coalesced likes is written and every change of a blog's
        readers told."""
        await self._likes.settled()
        while self._telling:
            await asyncio.gather(*self._telling, return_exceptions=True)

    # -- the recipient's list ------------------------------------------------------------

    async def page(self, user_id: int, after: Position | None, limit: int) -> Page:
        rows = await self._store.page(user_id, after, limit + 1)
        items = rows[:limit]
        last = items[-1] if len(rows) > limit else None
        return Page(items, Position(last.updated_at, last.id) if last else None)

    async def unread_count(self, user_id: int) -> int:
        return await self._store.unread_count(user_id)

    async def mark_read(self, user_id: int, notification_id: int) -> int:
        """The unread count after it. Someone else's notification is NotFoundError."""
        if not await self._store.mark_read(user_id, notification_id, self._clock.now()):
            raise _not_found()
        await self._tell(user_id)
        return await self._store.unread_count(user_id)

    async def mark_all_read(self, user_id: int) -> int:
        """The unread count after it (0 unless one arrived meanwhile)."""
        if await self._store.mark_all_read(user_id, self._clock.now()):
            await self._tell(user_id)
        return await self._store.unread_count(user_id)

    async def delete(self, user_id: int, notification_id: int) -> int:
        if not await self._store.delete(user_id, notification_id):
            raise _not_found()
        await self._tell(user_id)
        return await self._store.unread_count(user_id)


class Coalescer:
    """Drafts of one group (likes of one blog in one window) written in batches.

    The first draft of a group is written by its caller; drafts that arrive while a write of
    their group is under way only join the next batch, which a task writes as soon as that
    write ends. So a storm of likes costs one write per round trip instead of one locked
    update each, and a like never waits for another's. A batch not yet written when the
    process stops is lost: its likes stand, their notification is not told."""

    def __init__(self, write: Callable[[Draft, list[int]], Awaitable[None]], *,
                 pause: float = 0.1) -> None:
        self._write = write
        # A follow-up batch waits this long first, so a storm writes a few batches a second
        # rather than one per round trip, each with more likes.
        self._pause = pause
        self._busy: dict[tuple[int, str], list[int]] = {}  # groups being written -> waiting
        self._drafts: dict[tuple[int, str], Draft] = {}
        self._tasks: set[asyncio.Task] = set()

    async def add(self, draft: Draft) -> None:
        assert draft.actor_id is not None
        key = (draft.recipient_id, draft.group_key)
        if key in self._busy:
            self._busy[key].append(draft.actor_id)
            waiting = self._drafts.get(key)
            if waiting is not None and waiting.text != draft.text:
                # Reactions of several kinds in one batch read "reacted to", as in the store.
                draft = replace(draft, text=MIXED_REACTIONS)
            self._drafts[key] = draft
            return
        self._drafts[key] = draft
        self._busy[key] = []
        try:
            await self._write(draft, [draft.actor_id])
        finally:
            self._continue(key)

    def forget(self, recipient_id: int, subject: str, actor_id: int) -> None:
        """An undo: take `actor_id` off what waits to be written about `subject`."""
        for key, waiting in self._busy.items():
            draft = self._drafts.get(key)
            if key[0] == recipient_id and draft is not None and draft.subject == subject:
                waiting[:] = [a for a in waiting if a != actor_id]

    def _continue(self, key: tuple[int, str]) -> None:
        waiting = self._busy.get(key)
        if not waiting:
            self._busy.pop(key, None)
            self._drafts.pop(key, None)
            return
        # Whatever joins while the task pauses goes into the same list: one batch.
        task = asyncio.get_running_loop().create_task(self._write_batch(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write_batch(self, key: tuple[int, str]) -> None:
        draft = self._drafts[key]
        try:
            await asyncio.sleep(self._pause)
            actors, self._busy[key] = self._busy[key], []
            draft = self._drafts[key]
            if actors:  # all of them may have been unliked meanwhile
                await self._write(draft, actors)
        except Exception:
            log.exception("notification batch failed", extra={"kind": draft.kind.value})
        finally:
            self._continue(key)

    async def settled(self) -> None:
        """Wait until every batch is written (tests, and a clean stop)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


def _not_found() -> NotFoundError:
    return NotFoundError("No such notification.", code="notification_not_found")
