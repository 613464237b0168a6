"""Blog bodies and comments are Markdown; this renders them to HTML on the server, safely.

markdown-it-py in its CommonMark preset with raw HTML off: any HTML a writer types is shown
as text. Its link validation refuses `javascript:`, `vbscript:`, `file:` and `data:` URLs
(except data: images); what it refuses stays text. Links a writer puts in get
`rel="nofollow ugc noopener"`.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.enable(["table", "strikethrough"])


def _link_open(renderer, tokens, idx, options, env):  # type: ignore[no-untyped-def]
    tokens[idx].attrSet("rel", "nofollow ugc noopener")
    return renderer.renderToken(tokens, idx, options, env)


_md.add_render_rule("link_open", _link_open)


def render_markdown(text: str | None) -> Markup:
    """Safe HTML for a template (already escaped: marked so Jinja does not escape it twice)."""
    return Markup(_md.render(text or ""))
