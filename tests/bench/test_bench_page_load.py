"""The page-weight client: which resources of a page it counts."""

from bench.page_load import assets_of


def test_assets_are_what_a_browser_loads_each_once_and_local_apart_from_elsewhere():
    html = """<html><head>
    <link rel="stylesheet" href="/static/site.3f2a.css">
    <link rel="icon" href="/static/favicon.svg">
    <link rel="alternate" type="application/rss+xml" href="/feed.xml">
    <link rel="stylesheet" href="/static/site.3f2a.css">
    </head><body><img src="https://picsum.photos/seed/1/1000/600" alt="">
    <img src="/media/a.png"><script src="/static/js/bell.js" defer></script>
    <img src="data:image/gif;base64,R0lG"><a href="/blogs/x">x</a></body></html>"""
    found = assets_of(html)
    assert found.local == ["/static/site.3f2a.css", "/static/favicon.svg", "/media/a.png",
                           "/static/js/bell.js"]
    assert found.elsewhere == ["https://picsum.photos/seed/1/1000/600"]
