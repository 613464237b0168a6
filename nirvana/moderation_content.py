"""The moderation domain's view of the other features (its `Content` and `ReporterNotices`
ports): what a reporter can see is decided by the same reads the routes use, and every
take-down goes through the feature's own path (a removed chat message is the chat's
delete-for-everyone tombstone, live to every member)."""

from __future__ import annotations

from collections.abc import Iterable

from .domain.accounts.ports import UserRepository
from .domain.blogs.service import Blogs
from .domain.chat.service import ChatService
from .domain.errors import NotFoundError
from .domain.moderation.entities import Named, Preview, Target, TargetKind
from .domain.notifications.service import Notifications
from .domain.social.graph import SocialGraph


PREVIEW_CHARS = 500


class ModeratedContent:
    def __init__(self, blogs: Blogs, chat: ChatService, social: SocialGraph,
                 users: UserRepository) -> None:
        self._blogs = blogs
        self._chat = chat
        self._social = social
        self._users = users

    async def owner_seen_by(self, viewer_id: int, target: Target) -> int:
        match target.kind:
            case TargetKind.BLOG:
                assert target.id is not None
                return (await self._blogs.get(target.id, viewer_id)).author.id
            case TargetKind.COMMENT:
                assert target.id is not None and target.blog_id is not None
                comment = await self._blogs.get_comment(target.blog_id, target.id, viewer_id)
                return comment.author.id
            case TargetKind.MESSAGE:
                assert target.conversation_id is not None and target.seq is not None
                page = await self._chat.history(viewer_id, target.conversation_id,
                                                after=target.seq - 1, limit=1)
                if not page or page[0].seq != target.seq or page[0].deleted:
                    raise NotFoundError("No such message.", code="message_not_found")
                return page[0].sender_id
            case _:
                assert target.id is not None
                await self._social.profile(viewer_id, target.id)  # 404 if blocked or unknown
                return target.id

    async def describe(self, target: Target) -> Preview | None:
        shown: Preview | None = None
        match target.kind:
            case TargetKind.BLOG:
                blog = await self._blogs.any_blog(target.id or 0)
                if blog is not None:
                    shown = Preview(f"{blog.title}\n\n{blog.body}", blog.author.id)
            case TargetKind.COMMENT:
                comment = await self._blogs.any_comment(target.blog_id or 0, target.id or 0)
                if comment is not None:
                    shown = Preview(comment.body, comment.author.id)
            case TargetKind.MESSAGE:
                message = await self._chat.message_at(target.conversation_id or "",
                                                      target.seq or 0)
                if message is not None and not message.deleted:
                    shown = Preview(message.text, message.sender_id)
            case _:
                user = await self._users.get(target.id or 0)
                if user is not None:
                    shown = Preview(f"{user.name} (@{user.username})", user.id)
        if shown is not None and len(shown.text) > PREVIEW_CHARS:
            shown = Preview(shown.text[:PREVIEW_CHARS] + "…", shown.author_id)
        return shown

    async def names(self, user_ids: Iterable[int]) -> dict[int, Named]:
        users = await self._users.many(set(user_ids))
        return {i: Named(u.id, u.name, u.username) for i, u in users.items()}

    async def set_blog_hidden(self, blog_id: int, hidden: bool) -> None:
        await self._blogs.set_hidden(blog_id, hidden)

    async def remove_blog(self, blog_id: int) -> None:
        await self._blogs.remove(blog_id)

    async def set_comment_hidden(self, blog_id: int, comment_id: int, hidden: bool) -> None:
        await self._blogs.set_comment_hidden(blog_id, comment_id, hidden)

    async def remove_comment(self, blog_id: int, comment_id: int) -> None:
        await self._blogs.remove_comment(blog_id, comment_id)

    async def remove_message(self, moderator_id: int, conversation_id: str, seq: int) -> None:
        await self._chat.remove_as_moderator(moderator_id, conversation_id, seq)


class ReportNotifications:
    def __init__(self, notifications: Notifications) -> None:
        self._notifications = notifications

    async def report_handled(self, recipient_id: int, case_id: int, text: str) -> None:
        await self._notifications.report_handled(recipient_id, case_id, text)
