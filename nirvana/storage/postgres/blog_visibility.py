"""Who may see a blog in a list, as SQL conditions on `blogs b`: published, not hidden, in the
viewer's audience (domain/blogs/model.py `Audience`) and no block either way. Every list
read asks `visible_to`: the blogs' own lists, search, a person's blogs (social.py). Who may
read one blog is `READABLE_BY`, the same conditions plus its author: the notifications' rules
are built on it (notifications.py: who a comment's mention may tell, and `SHOWN`, which
notifications a reader is shown), so a hidden blog's title reaches nobody by either."""

from __future__ import annotations


class Params:
    """Collects query arguments and hands out their $n placeholders, so conditions can be
    added to a query one by one while every value still travels as a parameter."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def __call__(self, value: object, cast: str = "") -> str:
        self.values.append(value)
        return f"${len(self.values)}{cast}"


# Either direction of a block hides an author's blogs from the viewer {v}.
NOT_BLOCKED = """NOT EXISTS (
        SELECT 1 FROM blocks k
        WHERE (k.blocker_id = b.author_id AND k.blocked_id = {v})
           OR (k.blocker_id = {v} AND k.blocked_id = b.author_id))"""

# The audience rule, for a signed-in viewer {v}.
IN_AUDIENCE = """(b.audience = 'public' OR b.author_id = {v}
        OR EXISTS (SELECT 1 FROM friendships fr
                   WHERE fr.user_id = {v} AND fr.friend_id = b.author_id)
        OR (b.audience = 'followers' AND EXISTS (
                SELECT 1 FROM follows fo
                WHERE fo.follower_id = {v} AND fo.followee_id = b.author_id)))"""

# The reader {v}'s circle as arrays, one row (a CTE's body): authors blocked either way,
# friends and the reader (`close`), and authors followed. Read first as an InitPlan, so the
# blogs of those few authors come from the by-author indexes (blog_search.py, blog_lists.py).
CIRCLE_ARRAYS = """SELECT ARRAY(SELECT blocked_id FROM blocks WHERE blocker_id = {v}
                         UNION SELECT blocker_id FROM blocks WHERE blocked_id = {v})
                     AS blocked,
                   ARRAY(SELECT friend_id FROM friendships WHERE user_id = {v}) || {v}
                     AS close,
                   ARRAY(SELECT followee_id FROM follows WHERE follower_id = {v})
                     AS followed"""


# Listed for anyone allowed: published and not hidden by a moderator.
LISTED = ("b.status = 'published'", "b.hidden_at IS NULL")

# Who may read one blog (GET /api/v1/blog/{id}, domain/blogs/reading.py `visible`), for a
# signed-in reader {v}: its author always; anyone else while it is listed, in their
# audience, and with no block either way.
READABLE_BY = ("(b.author_id = {v} OR (" + " AND ".join(LISTED) + " AND " + NOT_BLOCKED
               + " AND " + IN_AUDIENCE + "))")


def visible_to(viewer_id: int | None, p: Params) -> list[str]:
    """The one condition of every list read: published, in the viewer's audience, no block."""
    where = list(LISTED)
    if viewer_id is None:
        where.append("b.audience = 'public'")
    else:
        v = p(viewer_id, "::bigint")
        where.append(NOT_BLOCKED.format(v=v))
        where.append(IN_AUDIENCE.format(v=v))
    return where
