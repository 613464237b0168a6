"""Reading pages: a blog with its reactions and comments, the tag list, tag and place pages,
search.

They work without JavaScript: plain links, and forms that POST and answer 303 back.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timezone
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from .. import domain
from ..forms import FormErrors, form_key, read_form, redirect
from ...http.kept_answers import remember
from ..session import reader_of, signed_in
from ...http.routes.blogs import BLOG_MAX_AGE
from ..templating import blog_path, pages_of, slug_path
from ...domain.ids import MAX_ID

COMMENTS_PAGE = 50
SEARCH_PAGE = 10
# Which blog a slug names changes only with an edit (content_version); kept, not refreshed.
SLUG_MAX_AGE = 3600.0


def blogs(request: Request):
    return request.app.state.services.blogs


def blog_id(request: Request) -> int:
    value = request.path_params["id"]
    if value > MAX_ID:
        raise domain.NotFoundError("No such blog.", code="blog_not_found")
    return value


def description_of(blog: domain.Blog) -> str:
    text = blog.summary or " ".join(blog.body.split())
    return text if len(text) <= 160 else text[:157].rsplit(" ", 1)[0] + "…"


def positive_int(raw: str | None, default: int = 1) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 1_000_000 else default


def moved_to(request: Request, blog: domain.Blog) -> Response:
    return moved_to_slug(request, blog.slug)


def moved_to_slug(request: Request, slug: str) -> Response:
    # 301: links and search engines move to the current slug for good.
    query = request.url.query
    return RedirectResponse(slug_path(slug) + (f"?{query}" if query else ""), status_code=301)


async def blog_by_id(request: Request) -> Response:
    """/blogs/{id}: the id stays a valid link (forms answer to it); the page is the slug's."""
    reader = await reader_of(request)
    return moved_to(request, await blogs(request).get(blog_id(request), reader.id))


async def blog_by_slug(request: Request) -> Response:
    reader = await reader_of(request)
    slug = request.path_params["slug"]
    if reader.user is None:
        return await anonymous_blog_page(request, slug)
    blog = await blogs(request).get_by_slug(slug, reader.id)
    if blog.slug != slug:  # a slug from before a title change
        return moved_to(request, blog)
    return await blog_page(request, blog=blog)


async def anonymous_blog_page(request: Request, slug: str) -> Response:
    """The blog page every anonymous reader sees, from the page cache: built from three
    queries and a template it cost ~2 ms of CPU, against ~0.05 ms kept (docs/performance.md).
    Exact for the blog's own writes, its reactions and comments (`Blogs.blog_version`);
    authors' names at most BLOG_MAX_AGE old. The slug is resolved through the cache too: a
    slug only moves with an edit, which moves `content_version`."""
    services = request.app.state.services

    async def resolve() -> bytes:
        blog = await blogs(request).get_by_slug(slug, None)
        return f"{blog.id} {blog.slug}".encode()

    target = await services.page_cache.page(("web", "slug", slug),
                                            services.blogs.content_version, resolve,
                                            SLUG_MAX_AGE)
    found_id, current = target.body.decode().split(" ", 1)
    if current != slug:  # a slug from before a title change
        return moved_to_slug(request, current)
    bid = int(found_id)
    page = positive_int(request.query_params.get("comments"))

    async def context() -> dict:
        blog = await blogs(request).get(bid, None)
        return await blog_context(request, blog, page, None)

    pages = pages_of(request)
    response = await pages.render_for_anyone(
        request, "blog.html", ("blog", bid, page), context,
        services.blogs.blog_version(bid), BLOG_MAX_AGE)

    def again(request: Request) -> Response | None:
        # The slug may have moved (then the route redirects) and the page may be due.
        target = services.page_cache.fresh_page(("web", "slug", slug),
                                                services.blogs.content_version, SLUG_MAX_AGE)
        if target is None or target.body != resolved:
            return None
        return pages.fresh_for_anyone(request, ("blog", bid, page),
                                      services.blogs.blog_version(bid), BLOG_MAX_AGE)

    resolved = target.body
    remember(request, again)
    return response


async def blog_context(request: Request, blog: domain.Blog, page: int,
                       reader_id: int | None) -> dict:
    comments, total = await blogs(request).comments(blog.id, reader_id, page, COMMENTS_PAGE)
    pages = math.ceil(total / COMMENTS_PAGE) if total else 1
    return {
        "blog": blog,
        "canonical": request.app.state.settings.base_url + blog_path(blog),
        # og:image must be absolute; an uploaded /media/ path is on this site.
        "absolute": lambda url: (url if "://" in url
                                 else request.app.state.settings.base_url + url),
        "description": description_of(blog),
        "comments": comments,
        "comment_page": page,
        "comment_pages": pages,
        "comment_errors": FormErrors(),
        "draft_comment": "",
        "is_author": reader_id == blog.author.id,
    }


async def blog_page(request: Request, comment_errors: FormErrors | None = None,
                    draft_comment: str = "", blog: domain.Blog | None = None) -> Response:
    reader = await reader_of(request)
    if blog is None:
        blog = await blogs(request).get(blog_id(request), reader.id)
    page = positive_int(request.query_params.get("comments"))
    context = await blog_context(request, blog, page, reader.id)
    context.update(comment_errors=comment_errors or FormErrors(), draft_comment=draft_comment)
    return await pages_of(request).render(request, "blog.html", context,
                                          status=comment_errors.status if comment_errors
                                          else 200)


async def like(request: Request) -> Response:
    await read_form(request)
    reader = await signed_in(request)
    bid = blog_id(request)
    await blogs(request).like(bid, reader.id)
    return await redirect(request, f"/blogs/{bid}#reactions")


async def unlike(request: Request) -> Response:
    await read_form(request)
    reader = await signed_in(request)
    bid = blog_id(request)
    await blogs(request).unlike(bid, reader.id)
    return await redirect(request, f"/blogs/{bid}#reactions")


async def react(request: Request) -> Response:
    """The reaction picker's form: `kind` sets (or replaces) the reader's reaction; an empty
    `kind` takes it back."""
    form = await read_form(request)
    reader = await signed_in(request)
    bid = blog_id(request)
    kind = form.get("kind", "")
    if not kind:
        await blogs(request).clear_reaction(bid, reader.id)
    elif kind in set(domain.Reaction):
        await blogs(request).react(bid, reader.id, domain.Reaction(kind))
    else:
        raise domain.InvalidInputError(
            "Unknown reaction.", details=[{"field": "kind", "code": "enum",
                                           "message": "one of " + ", ".join(domain.Reaction)}])
    return await redirect(request, f"/blogs/{bid}#reactions")


async def add_comment(request: Request) -> Response:
    form = await read_form(request)
    reader = await signed_in(request)
    bid = blog_id(request)
    try:
        # A form posted again (double click, reload, retry) lands on the comment it made.
        comment, _ = await blogs(request).comment_once(bid, reader.id, form.get("body", ""),
                                                       form_key(request, form))
    except domain.IdempotencyKeyReusedError:
        return await blog_page(request, FormErrors.resent("comment"), form.get("body", ""))
    except domain.InvalidInputError as exc:
        return await blog_page(request, FormErrors.of(exc), form.get("body", ""))
    blog = await blogs(request).get(bid, reader.id)
    # The last page, where a new comment is. A replay after a page of later comments lands
    # on it too, past its comment: accepted, as finding the comment's own page costs a count.
    last = math.ceil(blog.comments_count / COMMENTS_PAGE) or 1
    return await redirect(request,
                          f"{blog_path(blog)}?comments={last}#comment-{comment.id}")


async def edit_comment(request: Request) -> Response:
    reader = await signed_in(request)
    bid, cid = blog_id(request), request.path_params["comment_id"]
    blog = await blogs(request).get(bid, reader.id)
    comment = await blogs(request).get_comment(bid, cid, reader.id)
    errors, body = FormErrors(), comment.body
    if request.method == "POST":
        body = (await read_form(request)).get("body", "")
        try:
            await blogs(request).edit_comment(bid, cid, reader.id, body)
            return await redirect(request, f"/blogs/{bid}#comment-{cid}")
        except domain.InvalidInputError as exc:
            errors = FormErrors.of(exc)
    elif comment.author.id != reader.id:
        raise domain.PermissionDeniedError("Only its author can edit a comment.",
                                           code="not_comment_author")
    return await pages_of(request).render(request, "comment_edit.html", {
        "blog": blog, "comment": comment, "body": body, "errors": errors,
    }, status=errors.status if errors else 200)


async def delete_comment(request: Request) -> Response:
    """A GET asks first (as every delete does, with or without script); the POST deletes,
    and says who may."""
    reader = await signed_in(request)
    bid, cid = blog_id(request), request.path_params["comment_id"]
    if request.method == "GET":
        blog, comment = await blogs(request).deletable_comment(bid, cid, reader.id)
        return await pages_of(request).render(request, "comment_delete.html", {
            "blog": blog, "comment": comment})
    await read_form(request)
    await blogs(request).delete_comment(bid, cid, reader.id)
    return await redirect(request, f"/blogs/{bid}#comments")


# -- lists: search, tag, place ---------------------------------------------------------------

def _date(raw: str, end: bool) -> datetime | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        raise domain.InvalidInputError(
            f"{raw!r} is not a date like 2026-01-31.",
            details=[{"field": "to" if end else "from", "code": "date",
                      "message": "must be a date like 2026-01-31"}]) from None
    return datetime.combine(day, time.max if end else time.min, tzinfo=timezone.utc)


async def _results(request: Request, terms: domain.BlogFilter, template: str,
                   context: dict) -> Response:
    reader = await reader_of(request)
    page = positive_int(request.query_params.get("page"))
    found, more = await blogs(request).search(reader.id, terms, page, SEARCH_PAGE)
    params = {k: v for k, v in request.query_params.items() if k != "page" and v}

    def page_url(n: int) -> str:
        return request.url.path + "?" + urlencode({**params, "page": n})

    return await pages_of(request).render(request, template, {
        "blogs": found, "page": page,
        "next_url": page_url(page + 1) if more else None,
        "prev_url": page_url(page - 1) if page > 1 else None,
        **context,
    })


async def _author(request: Request, asked: str) -> domain.Profile | None:
    """The author `?author=` names: a username, `@` optional (the form, a profile's "More
    blogs" link), or failing that a user id (links made before usernames were used). None
    when there is none the reader may see."""
    social = request.app.state.services.social
    viewer = (await reader_of(request)).id
    try:
        return await social.profile_by_username(viewer, asked)
    except domain.NotFoundError:
        pass
    # Bounded before int(): Python refuses to convert over 4,300 digits.
    if not (asked.isascii() and asked.isdigit()) or len(asked) > len(str(MAX_ID)) \
            or int(asked) > MAX_ID:
        return None
    try:
        return await social.profile(viewer, int(asked))
    except domain.NotFoundError:
        return None


async def search(request: Request) -> Response:
    q = request.query_params
    form = {name: q.get(name, "").strip() for name in
            ("q", "author", "tag", "city", "country", "from", "to")}
    searched = any(form.values())
    author, author_error = None, {}
    if form["author"] and not domain.USERNAME_SHAPE.fullmatch(form["author"]):
        # Bounded as the other fields are: what cannot be a username is a field error.
        author_error = {"author": "must be a @username: at most 30 letters, digits, _ and ."}
    elif form["author"]:
        author = await _author(request, form["author"])
    errors = FormErrors(fields=dict(author_error))
    if author is not None:
        form["author"] = "@" + author.user.person.username
    try:
        terms = domain.BlogFilter(
            q=form["q"] or None, author_id=author.user.person.id if author else None,
            tag=form["tag"] or None, city=form["city"] or None, country=form["country"] or None,
            since=_date(form["from"], False), until=_date(form["to"], True))
    except domain.InvalidInputError as exc:
        errors = FormErrors.of(exc)
        errors.fields.update(author_error)
    # Nobody by that name (or nobody this reader may see): no results, as for words that
    # match nothing, not the 404 page.
    unknown = bool(form["author"]) and author is None and not errors
    context = {"form": form, "author": author, "searched": searched, "errors": errors,
               "unknown_author": unknown}
    if not searched or errors or unknown:
        return await pages_of(request).render(
            request, "search.html", {**context, "blogs": [], "next_url": None,
                                     "prev_url": None, "page": 1},
            status=errors.status if errors else 200)
    try:
        return await _results(request, terms, "search.html", context)
    except domain.InvalidInputError as exc:
        errors = FormErrors.of(exc)
        return await pages_of(request).render(
            request, "search.html", {**context, "errors": errors, "blogs": [],
                                     "next_url": None, "prev_url": None, "page": 1},
            status=errors.status)


async def tag(request: Request) -> Response:
    name = request.path_params["tag"]
    if not name:  # "/tags/": no tag has an empty name; the list of tags is meant
        return RedirectResponse("/tags", status_code=301)
    return await _results(request, domain.BlogFilter(tag=name), "list.html", {
        "heading": f"#{name}", "title": f"Blogs tagged #{name}",
        "description": f"Blogs tagged {name} on Nirvana.",
        "empty_text": "No blogs with this tag yet."})


TAGS_PAGE = 200


async def tags(request: Request) -> Response:
    return await pages_of(request).render(request, "tags.html", {
        "tags": await blogs(request).tags(TAGS_PAGE)})


async def place(request: Request) -> Response:
    country, city = request.path_params["country"], request.path_params["city"]
    return await _results(
        request, domain.BlogFilter(city=city, country=country), "list.html", {
            "heading": f"{city}, {country}", "title": f"Blogs from {city}, {country}",
            "description": f"Blogs written in {city}, {country}.",
            "empty_text": "No blogs from this place yet."})


routes = [
    Route("/blogs/{id:int}", blog_by_id, methods=["GET", "HEAD"]),
    Route("/blogs/{slug}", blog_by_slug, methods=["GET", "HEAD"]),
    Route("/blogs/{id:int}/like", like, methods=["POST"]),
    Route("/blogs/{id:int}/unlike", unlike, methods=["POST"]),
    Route("/blogs/{id:int}/reaction", react, methods=["POST"]),
    Route("/blogs/{id:int}/comments", add_comment, methods=["POST"]),
    Route("/blogs/{id:int}/comments/{comment_id:int}/edit", edit_comment,
          methods=["GET", "POST"]),
    Route("/blogs/{id:int}/comments/{comment_id:int}/delete", delete_comment,
          methods=["GET", "POST"]),
    Route("/search", search, methods=["GET", "HEAD"]),
    Route("/tags", tags, methods=["GET", "HEAD"]),
    # `path`: a tag may hold a slash ("ci/cd"), decoded from %2F before routing. The tag's
    # feeds (pages/feeds.py) are mounted before this, so ".../feed.xml" stays theirs.
    Route("/tags/{tag:path}", tag, methods=["GET", "HEAD"]),
    Route("/places/{country}/{city}", place, methods=["GET", "HEAD"]),
]
