"""Blog bodies are rendered on the server: Markdown in, HTML with no way to run script out."""

from html.parser import HTMLParser

import pytest

from nirvana.web.markdown import render_markdown

MARKDOWN_TAGS = {"p", "a", "img", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "code",
                 "pre", "ul", "ol", "li", "blockquote", "hr", "br", "table", "thead", "tbody",
                 "tr", "th", "td", "s"}


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict]]:
    parser = Elements()
    parser.feed(html)
    return parser.found

PAYLOADS = [
    "<script>window.pwned = 1</script>",
    "<img src=x onerror=\"window.pwned = 1\">",
    "<a href=\"javascript:window.pwned=1\">x</a>",
    "[click](javascript:window.pwned=1)",
    "[click](JaVaScRiPt:window.pwned=1)",
    "[click](  javascript:window.pwned=1)",
    "[click](vbscript:msgbox(1))",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "<javascript:window.pwned=1>",
    "![x](javascript:window.pwned=1)",
    "[ref]\n\n[ref]: javascript:window.pwned=1",
    "<svg onload=window.pwned=1>",
    "<iframe src=\"https://evil.example\"></iframe>",
    "`<script>` in code is text: <style>body{}</style>",
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markdown_never_emits_raw_html_or_script_links(payload):
    for tag, attrs in elements(str(render_markdown(payload))):
        assert tag in MARKDOWN_TAGS
        assert not any(name.startswith("on") for name in attrs)
        for name in ("href", "src"):
            url = (attrs.get(name) or "").strip().lower()
            assert not url.startswith(("javascript:", "vbscript:", "data:text"))


def test_markdown_renders_formatting_and_marks_links():
    html = str(render_markdown("# Title\n\n**bold** and [a link](https://a.example)"))
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert '<a href="https://a.example" rel="nofollow ugc noopener">a link</a>' in html


def test_html_typed_by_a_writer_shows_as_text():
    assert str(render_markdown("<b>hi</b>")) == "<p>&lt;b&gt;hi&lt;/b&gt;</p>\n"


def test_data_images_stay_allowed_and_nothing_is_rendered_for_none():
    assert '<img src="data:image/png;base64,AAAA"' in str(
        render_markdown("![dot](data:image/png;base64,AAAA)"))
    assert str(render_markdown(None)) == ""


def test_an_image_of_a_video_upload_is_a_player_with_its_text_as_fallback():
    html = str(render_markdown("![Our <trip>](/media/AAAA.mp4)\n\n![a photo](/media/B.png)"))
    assert ('<video controls preload="metadata" src="/media/AAAA.mp4">'
            '<a href="/media/AAAA.mp4">Our &lt;trip&gt;</a></video>') in html
    assert '<img src="/media/B.png" alt="a photo" />' in html
    # A refused address stays text, whatever it ends with.
    assert "<video" not in str(render_markdown("![x](javascript:alert(1).mp4)"))
