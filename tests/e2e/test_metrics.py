"""/metrics: Prometheus text for whoever holds METRICS_TOKEN, after real traffic."""

from __future__ import annotations

import asyncio
import gc
import time
from dataclasses import replace

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from nirvana.metrics import Metrics
from tests.support.chat_client import Client
from tests.support.people import befriend, user

TOKEN = "metrics-token-for-tests-0123456789"


@pytest.fixture
def settings(base_settings, tmp_path):
    return replace(base_settings, data_dir=tmp_path, metrics_token=TOKEN)


async def scrape(http: httpx.AsyncClient) -> dict[tuple[str, tuple], float]:
    r = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_counters_move_with_real_traffic(live):
    before = await scrape(live.http)
    a, b = await user(live.http), await user(live.http)
    await befriend(live.services, a["id"], b["id"])
    await live.http.get("/api/v1/users/12345")  # a route with a parameter
    await live.http.get("/no/such/path")
    ca, cb = await Client.connect(live.ws, a), await Client.connect(live.ws, b)
    opened = await ca.command("open_direct", user_id=b["id"])
    ack = await ca.command("send", conversation_id=opened["conversation"]["id"],
                           client_id="m1", text="hello")
    assert ack["type"] == "ack"
    await cb.expect("newMessage")

    after = await scrape(live.http)
    signups = dict(method="POST", route="/api/v1/user/signup", status="201")
    assert (value(after, "nirvana_http_request_seconds_count", **signups)
            - value(before, "nirvana_http_request_seconds_count", **signups)) == 2
    # Route templates, not raw paths: the label set stays bounded.
    routes = {dict(labels).get("route") for (name, labels) in after
              if name == "nirvana_http_request_seconds_count"}
    assert "/api/v1/users/{user_id:int}" in routes
    assert "/api/v1/users/12345" not in routes and "/no/such/path" not in routes
    assert value(after, "nirvana_websockets_open") == 2
    assert value(after, "nirvana_chat_messages_sent_total") == 1
    assert value(after, "nirvana_chat_messages_delivered_total") == 2  # b, and a's own device
    assert value(after, "nirvana_chat_writer_batch_size_count") >= 1
    assert value(after, "nirvana_chat_writer_commit_seconds_count") >= 1
    assert value(after, "nirvana_chat_writer_queue_depth") == 0
    assert value(after, "nirvana_store_errors_total", store="postgresql") == 0
    # Clients that read keep nothing queued (a stalled one: test_chat_slow_consumer.py).
    assert after[("nirvana_websocket_queued_bytes", ())] == 0
    assert after[("nirvana_websocket_queued_frames", ())] == 0
    await ca.close(), await cb.close()
    for _ in range(100):
        if value(await scrape(live.http), "nirvana_websockets_open") == 0:
            break
        await asyncio.sleep(0.02)
    assert value(await scrape(live.http), "nirvana_websockets_open") == 0


async def test_a_scrape_without_the_token_is_refused(live):
    r = await live.http.get("/metrics")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"
    r = await live.http.get("/metrics", headers={"Authorization": "Bearer wrong-token-123456"})
    assert r.status_code == 401 and "nirvana_" not in r.text


async def test_event_loop_lag_is_measured():
    metrics = Metrics()
    watch = asyncio.get_running_loop().create_task(metrics.watch_loop(interval=0.01))
    await asyncio.sleep(0.02)
    time.sleep(0.1)  # a callback that holds the loop
    await asyncio.sleep(0.03)
    watch.cancel()
    text = metrics.exposition().decode()
    (total,) = [line for line in text.splitlines()
                if line.startswith("nirvana_event_loop_lag_seconds_sum")]
    assert float(total.split()[1]) >= 0.08


def test_garbage_collection_pauses_and_what_they_freed_are_measured_by_generation():
    metrics = Metrics()
    stop = metrics.watch_gc()
    try:
        gc.collect(0)
        cycle: list = []
        cycle.append(cycle)  # garbage only a collection can free
        del cycle
        gc.collect(2)
    finally:
        stop()
    gc.collect(2)  # not counted: the watch has stopped
    text = metrics.exposition().decode()
    counts = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line.startswith("nirvana_gc_pause_seconds_count")}
    assert counts['nirvana_gc_pause_seconds_count{generation="0"}'] >= 1
    assert counts['nirvana_gc_pause_seconds_count{generation="2"}'] == 1
    freed = [float(line.split()[1]) for line in text.splitlines()
             if line.startswith('nirvana_gc_collected_objects_total{generation="2"}')]
    assert freed and freed[0] >= 1
