"""Without METRICS_TOKEN there is nothing to scrape."""

from __future__ import annotations


async def test_metrics_answer_404_when_no_token_is_set(client, settings):
    assert settings.metrics_token is None
    r = await client.get("/metrics", headers={"Authorization": "Bearer anything-at-all-here"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
