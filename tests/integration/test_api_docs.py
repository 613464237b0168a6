"""/docs: the interactive API reference, served from the package under a 'self'-only CSP."""

from __future__ import annotations

import re


async def test_docs_page_and_every_asset_it_loads_are_served_locally(client):
    page = await client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "http" not in csp
    assert "<script>" not in page.text  # no inline script: scripts are files, 'self' only
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert "/docs/assets/swagger-ui-bundle.js" in urls and "/docs/assets/start.js" in urls
    for url in urls:
        if url.startswith("/docs/assets/"):
            r = await client.get(url)
            assert r.status_code == 200, url
            assert r.headers["content-security-policy"] == csp
    start = (await client.get("/docs/assets/start.js")).text
    assert 'url: "/openapi.json"' in start
    assert (await client.get("/openapi.json")).status_code == 200
    licence = await client.get("/docs/assets/LICENSE")
    assert "Apache License" in licence.text


async def test_chat_times_state_their_form_in_openapi(client):
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    times = [schemas["MessageOut"]["properties"]["created_at"],
             schemas["MessageOut"]["properties"]["edited_at"]["anyOf"][0],
             schemas["ConversationOut"]["properties"]["last_activity"],
             schemas["PresenceOut"]["properties"]["last_seen"]["anyOf"][0]]
    for time in times:
        assert time["format"] == "date-time" and time["pattern"].endswith(r"\.\d{3}\+00:00$")
