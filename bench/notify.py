"""Notifications under load, in process, through the domain paths (no HTTP in the way):

    .venv/bin/python -m bench.notify [--quick] [--likes N] [--messages N]

1. A like storm: N users (10,000) like one blog as fast as 50 concurrent likers go; the
   notifications and mails it leaves are counted (they are bounded: likes coalesce into one
   notification per blog and window, and likes are never mailed).
2. Like throughput with notifications on, then off (the blog events' listeners removed),
   alternating over the repetitions in the same run, each on a fresh blog.
3. Chat send throughput and p99 with missed-message tracking on and off (alternating): one
   direct conversation per pair of users whose recipient is offline, so every message is
   tracked when it is on.

Starts throwaway embedded PostgreSQL and MongoDB-wire servers. Prints one JSON object on the
last line (what `make bench` reads). Measures; asserts nothing. Figures on a shared machine
are indicative.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from pathlib import Path
from statistics import median

from nirvana.bootstrap import build_services
from nirvana.wiring.stores import open_stores
from nirvana.domain.blogs.model import BlogFields, BlogStatus
from nirvana.settings import Settings

from .embedded import throwaway_stores

LIKERS = 50


async def users(pool, n: int, prefix: str) -> list[int]:
    rows = await pool.fetch(
        "INSERT INTO users (email, username, name) SELECT $1 || i || '@x.io', $1 || i, "
        "'Liker ' || i FROM generate_series(1, $2) AS i RETURNING id", prefix, n)
    return [r["id"] for r in rows]


async def like_run(services, author: int, likers: list[int], label: str) -> dict:
    blog = await services.blogs.create(author, BlogFields(
        title=f"Storm {label}", body="Like me.", summary="", header_image=None, images=(),
        tags=(), place=None, status=BlogStatus.PUBLISHED))
    queue = iter(likers)

    async def worker() -> None:
        for user_id in queue:
            await services.blogs.like(blog.id, user_id)

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(LIKERS)))
    took = time.perf_counter() - t
    await services.notifications.settled()  # the last batch trails the last like's answer
    trailing = time.perf_counter() - t - took
    pool = services.pool
    return {
        "likes": len(likers), "seconds": took, "likes_per_s": len(likers) / took,
        "notification_trailing_s": trailing,
        "notifications": await pool.fetchval(
            "SELECT count(*) FROM notifications WHERE blog_id = $1", blog.id),
        "notification_actors": await pool.fetchval(
            "SELECT count(*) FROM notification_actors a JOIN notifications n "
            "ON n.id = a.notification_id WHERE n.blog_id = $1", blog.id),
        "mails": await pool.fetchval("SELECT count(*) FROM mail_outbox"),
    }


async def likes(settings, pool, mongo, n: int, repetitions: int) -> dict:
    services = build_services(settings, pool, mongo, secret="b" * 48)
    [author] = await users(pool, 1, "author")
    likers = await users(pool, n, "liker")
    storm = await like_run(services, author, likers, "storm")
    on, off = [], []
    listeners = list(services.blog_events.listeners)
    for i in range(repetitions):
        services.blog_events.listeners[:] = listeners
        on.append(await like_run(services, author, likers, f"on {i}"))
        services.blog_events.listeners.clear()
        off.append(await like_run(services, author, likers, f"off {i}"))
    services.blog_events.listeners[:] = listeners
    await services.chat_store.close()
    return {"storm": storm, "on": on, "off": off,
            "on_likes_per_s": median(r["likes_per_s"] for r in on),
            "off_likes_per_s": median(r["likes_per_s"] for r in off)}


async def chat_run(settings, pool, mongo, pairs: list[tuple[int, int]], messages: int,
                   concurrency: int, label: str) -> dict:
    services = build_services(settings, pool, mongo, secret="b" * 48)
    if settings.missed_message_emails:
        services.start_mail_sender()  # the tracker's flush and mailing task, as in run.py
    chat = services.chat
    conversations = [await chat.open_direct(a, b) for a, b in pairs]
    latencies: list[float] = []
    counter = iter(range(messages))

    async def sender() -> None:
        for i in counter:
            a, _ = pairs[i % len(pairs)]
            conv = conversations[i % len(pairs)]
            t = time.perf_counter()
            await chat.send_message(a, conv.id, client_id=f"{label}-{i}", text="hello")
            latencies.append(time.perf_counter() - t)

    t = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    took = time.perf_counter() - t
    tracked = 0
    if settings.missed_message_emails:
        await asyncio.sleep(1.0)  # a flush the tracker's own task has under way lands
        await services.missed_messages.flush()
        tracked = await pool.fetchval(
            "SELECT coalesce(sum(cardinality(pending)), 0) FROM missed_messages")
    for task in list(services.background):
        task.cancel()
    await services.chat_store.close()
    latencies.sort()
    return {"messages": messages, "msgs_per_s": messages / took,
            "p50_ms": latencies[len(latencies) // 2] * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
            "tracked": tracked}


async def chats(settings, pool, mongo, messages: int, repetitions: int) -> dict:
    ids = await users(pool, 40, "chatter")
    pairs = list(zip(ids[::2], ids[1::2]))
    await pool.executemany("INSERT INTO friendships VALUES ($1, $2), ($2, $1)", pairs)
    # Long enough that nothing is mailed during the run: what is measured is the tracking.
    base = dataclasses.replace(settings, missed_message_delay=3600.0)
    on, off = [], []
    for i in range(repetitions):
        await pool.execute("TRUNCATE missed_messages")
        on.append(await chat_run(dataclasses.replace(base, missed_message_emails=True),
                                 pool, mongo, pairs, messages, 100, f"on{i}"))
        off.append(await chat_run(dataclasses.replace(base, missed_message_emails=False),
                                  pool, mongo, pairs, messages, 100, f"off{i}"))
    return {"on": on, "off": off,
            "on_msgs_per_s": median(r["msgs_per_s"] for r in on),
            "off_msgs_per_s": median(r["msgs_per_s"] for r in off),
            "on_p99_ms": median(r["p99_ms"] for r in on),
            "off_p99_ms": median(r["p99_ms"] for r in off)}


async def run(database_url: str, mongodb_url: str, data_dir: Path,
              args: argparse.Namespace) -> dict:
    settings = Settings(data_dir=data_dir, mongodb_db="bench_notify")
    pool, mongo = await open_stores(settings, database_url=database_url,
                                    mongodb_url=mongodb_url)
    try:
        liked = await likes(settings, pool, mongo, args.likes, args.repetitions)
        chatted = await chats(settings, pool, mongo, args.messages, args.repetitions)
    finally:
        await pool.close()
        await mongo.close()
    return {"likes": liked, "chat": chatted}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.notify", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--likes", type=int)
    parser.add_argument("--messages", type=int)
    parser.add_argument("--repetitions", type=int)
    args = parser.parse_args(argv)
    args.likes = args.likes or (2000 if args.quick else 10_000)
    args.messages = args.messages or (1000 if args.quick else 3000)
    args.repetitions = args.repetitions or (1 if args.quick else 3)
    with throwaway_stores("nirvana-bench-notify-", postgres=True) as stores:
        result = asyncio.run(run(stores.database_url, stores.mongodb_url,
                                 stores.root / "data", args))
    storm = result["likes"]["storm"]
    print(f"like storm: {storm['likes']} likes in {storm['seconds']:.1f} s "
          f"({storm['likes_per_s']:.0f}/s) -> {storm['notifications']} notification(s) "
          f"with {storm['notification_actors']} actors, {storm['mails']} mails",
          file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
