"""`blog.published` on the sockets of those told of a new blog (domain/blogs/live.py decides
who): the frame is encoded once and queued on each of their devices."""

from __future__ import annotations

from ..domain.blogs.events import BlogPublished
from .events import BlogPublishedEvent, NewPostAuthorOut, NewPostOut, encode
from .hub import Hub


def new_post_frame(event: BlogPublished) -> str:
    a = event.author
    author = (NewPostAuthorOut(id=a.id, username=a.username, name=a.name, avatar=a.avatar_url)
              if a is not None
              else NewPostAuthorOut(id=event.author_id, username="", name="", avatar=None))
    return encode(BlogPublishedEvent(blog=NewPostOut(
        id=event.blog_id, slug=event.slug, title=event.title, summary=event.summary,
        audience=event.audience.value, author=author, published_at=event.published_at,
        link=f"/blogs/{event.blog_id}")))


class NewPostsToSockets:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def online_users(self) -> list[int]:
        return self._hub.online_users()

    def new_post(self, user_ids: list[int], event: BlogPublished) -> None:
        text = new_post_frame(event)
        for uid in user_ids:
            self._hub.send_to_user(uid, text)
