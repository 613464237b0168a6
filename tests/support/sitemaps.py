"""Reading the sitemap as a crawler does: the index, then every part it lists."""

from __future__ import annotations

from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


async def sitemap_locs(client, headers: dict[str, str] | None = None) -> list[str]:
    """Every page address in the sitemap, part after part."""
    r = await client.get("/sitemap.xml", headers=headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml")
    locs: list[str] = []
    for part in ET.fromstring(r.content).iter(SITEMAP + "sitemap"):
        path = urlsplit(part.findtext(SITEMAP + "loc")).path
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 200, (path, answer.status_code)
        locs += [u.findtext(SITEMAP + "loc")
                 for u in ET.fromstring(answer.content).iter(SITEMAP + "url")]
    return locs
