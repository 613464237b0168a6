"""The rules of what is said and how notifications group: mentions, like windows, wording."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Collection, Mapping

from .entities import Kind, Notification

# "@ann" at the start of the text or after anything but a word character (so an address
# like "me@ann.example" is not a mention). A handle is what a username may be: runs of
# [A-Za-z0-9_] joined by single dots, so a dot not followed by a name character ("@ann.",
# "@ann...", "@ann.,") is punctuation. A handle followed by a word character is nobody's,
# dots and all: the group is atomic, so "@ann.leé" does not shrink to "@ann" (as "@anné").
_MENTION = re.compile(r"(?<![\w@])@((?>[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*))(?!\w)")
# A link's "@" (https://mastodon.social/@ann) names someone on another site.
_LINK = re.compile(r"https?://\S*", re.IGNORECASE)
MIN_USERNAME, MAX_USERNAME = 3, 30
MAX_MENTIONS = 20  # per text: a list of every user is not a mention, and bounds the fan-out

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class NotificationPolicy:
    # Likes on one blog within one window are one notification ("Ann and 3 others liked …").
    like_window: timedelta = timedelta(hours=1)
    page_limit: int = 100


# A mention: the usernames its handle may mean, longest first (`handle_names`).
Mention = tuple[str, ...]


def mentions(text: str) -> list[Mention]:
    """What `text` mentions, outside links: each distinct handle's names, in order of first
    mention, at most MAX_MENTIONS. `resolve` says whose they are."""
    seen: dict[Mention, None] = {}
    for match in _MENTION.finditer(_LINK.sub(" ", text) if "://" in text else text):
        names = handle_names(match.group(1))
        if names:
            seen.setdefault(names, None)
            if len(seen) == MAX_MENTIONS:
                break
    return list(seen)


def handle_names(handle: str) -> Mention:
    """The usernames a handle may mean, lowercase and longest first: the whole of it, then
    each prefix ending before a dot ("@ann.bob" is `ann.bob`, else `ann`: "ping @ann.Thanks"
    still reaches ann), within a username's length. Only the first MAX_USERNAME + 1
    characters are read: a handle may be as long as the text, and a longer name is nobody's."""
    head = handle[:MAX_USERNAME + 1].lower()
    names = [head] if len(head) <= MAX_USERNAME else []
    names += [head[:i] for i in range(len(head) - 1, 0, -1) if head[i] == "."]
    return tuple(n for n in names if len(n) >= MIN_USERNAME)


def usernames(mentioned: list[Mention]) -> list[str]:
    """Every username to look up to resolve `mentioned`."""
    return list(dict.fromkeys(n for names in mentioned for n in names))


def resolve(mentioned: list[Mention], ids: Mapping[str, int],
            among: Collection[int] | None = None) -> list[int]:
    """The distinct users `mentioned`, in order: each mention is the longest of its names
    that is the username of someone `among` those given (`ids`: lowercase username → id;
    `among`: everyone if None), or nobody. In a group only members count, so an outsider's
    `ann.thanks` cannot take "@ann.Thanks" from a member `ann`."""
    found: dict[int, None] = {}
    for names in mentioned:
        user = next((ids[n] for n in names
                     if n in ids and (among is None or ids[n] in among)), None)
        if user is not None:
            found.setdefault(user, None)
    return list(found)


def like_group(blog_id: int, now: datetime, window: timedelta) -> str:
    bucket = (now - EPOCH) // window
    return f"like:{blog_id}:{bucket}"


def summary(n: Notification) -> str:
    """One line a person reads: "Ann and 3 others liked “Title”"."""
    who = _who(n)
    title = f"“{n.blog_title}”" if n.blog_title else "your blog"
    match n.kind:
        case Kind.FRIEND_REQUEST:
            return f"{who} sent you a friend request"
        case Kind.FRIEND_ACCEPTED:
            return f"{who} accepted your friend request"
        case Kind.NEW_FOLLOWER:
            return f"{who} started following you"
        case Kind.BLOG_LIKED:
            # `text` holds the reaction's kind ('mixed' for several); older rows have none.
            verb = "liked" if n.text in (None, "like") else "reacted to"
            return f"{who} {verb} {title}"
        case Kind.BLOG_COMMENTED:
            return f"{who} commented on {title}"
        case Kind.MENTIONED if n.conversation_id is not None:
            return f"{who} mentioned you in {n.text or 'a group chat'}"
        case Kind.MENTIONED:
            where = "a comment on " + title if n.comment_id else title
            return f"{who} mentioned you in {where}"
        case Kind.NEW_BLOG:
            return f"{who} published {title}"
        case Kind.ADDED_TO_GROUP:
            return f"{who} added you to {n.text or 'a group chat'}"
        case Kind.GROUP_ROLE:
            return f"{who} made you {n.text or 'an admin of a group chat'}"
        case Kind.NOTICE | Kind.REPORT_HANDLED:
            return n.text or ""


def _who(n: Notification) -> str:
    if not n.actors:
        return "Someone"
    first = n.actors[0].name or n.actors[0].username
    others = n.actor_count - 1
    if others <= 0:
        return first
    return f"{first} and {others} other{'s' if others > 1 else ''}"


def link(n: Notification) -> str:
    """The page a notification is about, relative to the site."""
    if n.conversation_id is not None:
        return f"/chat?c={n.conversation_id}"
    if n.blog_id is not None:
        anchor = f"#comment-{n.comment_id}" if n.comment_id is not None else ""
        return f"/blogs/{n.blog_id}{anchor}"
    if n.actors:
        return f"/people/{n.actors[0].id}"
    return "/notifications"
