"""RSS, Atom and sitemap documents: well-formed, complete, and escaping what writers type."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from xml.etree import ElementTree as ET

from nirvana.domain.blogs.authors import Author
from nirvana.domain.blogs.model import Blog, BlogStatus
from nirvana.web.feeds import ATOM_NS, SITEMAP_NS, FeedInfo, atom, rss, sitemap

BASE = "https://blog.example"
AT = datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)
NASTY = "Fish & <chips> \"quoted\" ]]> 'single'"


def blog(n: int, title: str = NASTY, **over) -> Blog:
    fields = dict(id=n, author=Author(7, "ann", "Ann <& Co>", None), title=title,
                  body="Body " * 100, summary="", header_image=None, images=(),
                  tags=("food & drink", "<b>"), location=None, status=BlogStatus.PUBLISHED,
                  created_at=AT, updated_at=AT, published_at=AT, likes_count=0,
                  comments_count=0, slug=f"fish-chips-{n}")
    return Blog(**{**fields, **over})


INFO = FeedInfo("Nirvana & friends", "News <here>", BASE + "/", BASE + "/feed.xml")


def test_rss_is_valid_rss_2_with_every_required_element_and_escaped_text():
    raw = rss(INFO, [blog(1), blog(2, title="Plain")], BASE)
    assert raw.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(raw)
    assert root.tag == "rss" and root.get("version") == "2.0"
    channel = root.find("channel")
    assert channel.findtext("title") == "Nirvana & friends"
    assert channel.findtext("link") == BASE + "/"
    assert channel.findtext("description") == "News <here>"
    assert channel.find(f"{{{ATOM_NS}}}link").get("rel") == "self"
    items = channel.findall("item")
    assert [i.findtext("title") for i in items] == [NASTY, "Plain"]
    first = items[0]
    assert first.findtext("link") == BASE + "/blogs/fish-chips-1"
    assert first.findtext("guid") == BASE + "/blogs/1"
    assert parsedate_to_datetime(first.findtext("pubDate")) == AT
    assert [c.text for c in first.findall("category")] == ["food & drink", "<b>"]
    assert "Ann <& Co>" in first.findtext("author")
    assert len(first.findtext("description")) <= 300
    assert b"<chips>" not in raw and b"&lt;chips&gt;" in raw


def test_atom_is_valid_atom_with_ids_dates_authors_and_escaped_text():
    root = ET.fromstring(atom(INFO, [blog(1)], BASE))
    a = f"{{{ATOM_NS}}}"
    assert root.tag == a + "feed"
    for required in ("id", "title", "updated"):
        assert root.findtext(a + required)
    entry = root.find(a + "entry")
    assert entry.findtext(a + "title") == NASTY
    assert entry.findtext(a + "id") == BASE + "/blogs/1"
    assert datetime.fromisoformat(entry.findtext(a + "updated")) == AT
    assert entry.find(a + "author").findtext(a + "name") == "Ann <& Co>"
    assert entry.find(a + "link").get("href") == BASE + "/blogs/fish-chips-1"


def test_an_empty_feed_is_still_valid():
    for build in (rss, atom):
        assert ET.fromstring(build(INFO, [], BASE)) is not None


def test_sitemap_lists_home_and_each_blog_with_non_latin_slugs_encoded():
    root = ET.fromstring(sitemap(BASE, [("привет-мир", AT), ("a-b", AT)]))
    s = f"{{{SITEMAP_NS}}}"
    assert root.tag == s + "urlset"
    locs = [u.findtext(s + "loc") for u in root.findall(s + "url")]
    assert locs == [BASE + "/", BASE + "/blogs/%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82-%D0%BC%D0%B8%D1%80",
                    BASE + "/blogs/a-b"]
    assert root.findall(s + "url")[1].findtext(s + "lastmod") == "2026-03-01T09:30:00+00:00"
