"""Blogs written and edited through the API, for the HTTP tests of what readers see."""

from __future__ import annotations

import httpx

from tests.support.http import bearer


async def post(client: httpx.AsyncClient, session: dict, title: str, **over) -> dict:
    """A blog by `session` (published unless `over` says otherwise), its body naming it."""
    r = await client.post("/api/v1/blog", json={"title": title, "body": f"Body of {title}",
                                                **over}, headers=bearer(session))
    assert r.status_code == 201, r.text
    return r.json()


async def edit(client: httpx.AsyncClient, session: dict, blog: dict, **fields) -> dict:
    """An edit of `blog` as last read (its `updated_at`), changing `fields`."""
    r = await client.put(f"/api/v1/blog/{blog['id']}", headers=bearer(session),
                         json={"updated_at": blog["updated_at"], **fields})
    assert r.status_code == 200, r.text
    return r.json()
