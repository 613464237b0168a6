"""Blog bodies and comments are Markdown; this renders them to HTML on the server, safely.

markdown-it-py in its CommonMark preset with raw HTML off: any HTML a writer types is shown
as text. Its link validation refuses `javascript:`, `vbscript:`, `file:` and `data:` URLs
(except data: images); what it refuses stays text. Links a writer puts in get
`rel="nofollow ugc noopener"`. An image whose address is a video (an upload's `.mp4`,
`.webm`, `.mov`, `.m4v`, `.ogv`, or a Cloudinary video) is shown as a `<video>` with controls,
its alt text as the fallback link: `![Our trip](/media/….mp4)` (docs/media.md).
"""


from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.enable(["table", "strikethrough"])


def _link_open(renderer, tokens, idx, options, env):  # type: ignore[no-untyped-def]
    tokens[idx].attrSet("rel", "nofollow ugc noopener")
    return renderer.renderToken(tokens, idx, options, env)


_md.add_render_rule("link_open", _link_open)

_VIDEO = re.compile(r"(\.(mp4|m4v|webm|mov|ogv)$)|(^https://res\.cloudinary\.com/[^/]+/video/)",
                    re.IGNORECASE)
_default_image = _md.renderer.rules["image"]


def _image(renderer, tokens, idx, options, env):  # type: ignore[no-untyped-def]
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    if not _VIDEO.search(src.split("?", 1)[0]):
        return _default_image(tokens, idx, options, env)
    # src passed markdown-it's link validation; escaped here like every attribute.
    label = renderer.renderInlineAsText(token.children or [], options, env) or "the video"
    href = _escape(src)
    return (f'<video controls preload="metadata" src="{href}">'
            f'<a href="{href}">{_escape(label)}</a></video>')


def _escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


_md.add_render_rule("image", _image)


def render_markdown(text: str | None) -> Markup:
    """Safe HTML for a template (already escaped: marked so Jinja does not escape it twice)."""
    return Markup(_md.render(text or ""))
