"""Fill a database with realistic demo data: `python -m nirvana.seed --blogs 100000 --users 1000`
(or `make seed SEED_ARGS="--blogs 100000"`).

Uses DATABASE_URL, or the embedded PostgreSQL under DATA_DIR as run.py does. Adds to what is
there (new users get fresh names each run). Rows go in with COPY in batches; the counters
(published total, likes and comments counts) follow through the schema's triggers, so they
are exact without a recount. Every seeded user signs in with the password SEED_PASSWORD.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import secrets
import sys
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Mapping, Sequence

import asyncpg

from .domain.blogs.slugs import slugify
from .security import Argon2Hasher
from .seed_text import markdown_body, sentence, title as blog_title
from .settings import ConfigError, Settings
from .storage.embedded import EmbeddedError
from .storage.postgres.deadlock import once_more_if_deadlocked
from .storage.postgres.pool import create_pool, migrate
from .storage.tool_postgres import tool_postgres

log = logging.getLogger("nirvana.seed")

SEED_PASSWORD = "nirvana-demo-password"

FIRST = ("Ana Ben Chloé Dev Eli Fatima Goran Hana Ivan Jun Kofi Lena Mateo Nia Omar Priya "
         "Quinn Rosa Sven Tariq Uma Vera Wen Xavier Yara Zoë").split()
LAST = ("Adams Björk Costa Dubois Eze Fischer García Haddad Ito Jensen Kowalski López "
        "Müller Novak Okafor Park Rossi Silva Tanaka Ueda Varga Weber Yilmaz Zhou").split()
PLACES = [
    ("Zürich", "Switzerland"), ("Genève", "Switzerland"), ("Paris", "France"),
    ("Lyon", "France"), ("Berlin", "Germany"), ("München", "Germany"), ("Wien", "Austria"),
    ("Kraków", "Poland"), ("Praha", "Czechia"), ("Lisboa", "Portugal"), ("Porto", "Portugal"),
    ("Madrid", "Spain"), ("Sevilla", "Spain"), ("Roma", "Italy"), ("Milano", "Italy"),
    ("Amsterdam", "Netherlands"), ("København", "Denmark"), ("Reykjavík", "Iceland"),
    ("Istanbul", "Türkiye"), ("Cairo", "Egypt"), ("Lagos", "Nigeria"), ("Nairobi", "Kenya"),
    ("Cape Town", "South Africa"), ("Mumbai", "India"), ("Bengaluru", "India"),
    ("Tokyo", "Japan"), ("Kyoto", "Japan"), ("Seoul", "South Korea"), ("Hà Nội", "Vietnam"),
    ("Singapore", "Singapore"), ("Sydney", "Australia"), ("Auckland", "New Zealand"),
    ("São Paulo", "Brazil"), ("Buenos Aires", "Argentina"), ("Bogotá", "Colombia"),
    ("Ciudad de México", "Mexico"), ("Montréal", "Canada"), ("Toronto", "Canada"),
    ("New York", "United States"), ("San Francisco", "United States"),
]
TAGS = ("travel food coffee hiking photography python postgres asyncio design books music "
        "cycling running cooking baking gardening history architecture art film startups "
        "remote-work parenting language-learning climate science space chess games").split()
# Most blogs are public; some are for the author's followers or friends (docs/blogs.md).
AUDIENCES = (("public", 0.90), ("followers", 0.06), ("friends", 0.04))


@dataclass(frozen=True)
class SeedReport:
    users: int
    blogs: int
    likes: int
    comments: int
    seconds: float


def ascii_slug(name: str) -> str:
    # Usernames are ASCII letters and digits: "Zoë" becomes "zoe".
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if c.isascii() and c.isalnum()).lower() or "user"


async def seed_users(conn: asyncpg.Connection, count: int, rng: random.Random,
                     password_hash: str) -> list[int]:
    run = secrets.token_hex(3)  # keeps emails and usernames unique across runs
    emails, usernames, names = [], [], []
    for i in range(count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        emails.append(f"seed.{run}.{i}@example.com")
        usernames.append(f"{ascii_slug(first)[:8]}_{run}{i}")
        names.append(f"{first} {last}")
    ids: list[int] = await conn.fetchval(
        """WITH made AS (
               INSERT INTO users (email, username, name, email_verified)
               SELECT e, u, n, true FROM unnest($1::text[], $2::text[], $3::text[]) AS t(e, u, n)
               RETURNING id)
           SELECT array_agg(id ORDER BY id) FROM made""",
        emails, usernames, names)
    await conn.execute(
        "INSERT INTO credentials (user_id, password_hash) SELECT unnest($1::bigint[]), $2",
        ids, password_hash)
    return ids


async def seed_locations(conn: asyncpg.Connection) -> list[int]:
    cities, countries = zip(*PLACES)
    await conn.execute(
        """INSERT INTO locations (city, country)
           SELECT * FROM unnest($1::text[], $2::text[])
           ON CONFLICT (city_key, country_key) DO NOTHING""",
        list(cities), list(countries))
    return await conn.fetchval(
        """SELECT array_agg(l.id) FROM locations l
           JOIN unnest($1::text[], $2::text[]) AS p(city, country)
             ON l.city_key = nirvana_fold(p.city) AND l.country_key = nirvana_fold(p.country)""",
        list(cities), list(countries))


async def seed_follows(conn: asyncpg.Connection, users: list[int], rng: random.Random) -> None:
    pairs = {(a, b) for a in users for b in rng.sample(users, min(len(users), 10)) if a != b}
    await conn.execute(
        """INSERT INTO follows (follower_id, followee_id)
           SELECT * FROM unnest($1::bigint[], $2::bigint[]) ON CONFLICT DO NOTHING""",
        [a for a, _ in pairs], [b for _, b in pairs])


def blog_record(rng: random.Random, users: list[int], places: list[int],
                now: datetime) -> tuple:
    created = now - timedelta(seconds=rng.randint(3600, 2 * 365 * 86400))
    published = rng.random() < 0.92
    title = blog_title(rng)
    tags = rng.sample(TAGS, rng.randint(1, 4))
    header = f"https://picsum.photos/seed/{rng.randint(1, 10**6)}/1000/600"
    audience = rng.choices([a for a, _ in AUDIENCES], [w for _, w in AUDIENCES])[0]
    return (
        rng.choice(users), title, markdown_body(rng), sentence(rng, 8, 20), header,
        [], tags, rng.choice(places) if rng.random() < 0.8 else None,
        "published" if published else "draft", created, created,
        created + timedelta(minutes=rng.randint(1, 600)) if published else None,
        # The title's slug: the store numbers repeats from its per-title counter.
        slugify(title), audience,
    )


BLOG_COLUMNS = ["author_id", "title", "body", "summary", "header_image", "images", "tags",
                "location_id", "status", "created_at", "updated_at", "published_at", "slug",
                "audience"]


async def seed_reactions(conn: asyncpg.Connection, blogs: list[asyncpg.Record],
                         user_ids: list[int], rng: random.Random) -> tuple[int, int]:
    """Likes and comments on one batch of published blogs; their counts."""
    likes, comments = [], []
    for row in blogs:
        for liker in rng.sample(user_ids, min(len(user_ids), rng.choice((0, 1, 2, 3, 5, 8)))):
            likes.append((row["id"], liker))
        for _ in range(rng.choice((0, 0, 1, 2, 3))):
            at = row["published_at"] + timedelta(minutes=rng.randint(1, 5000))
            comments.append((row["id"], rng.choice(user_ids), sentence(rng), at, at))
    # Seeded likes are reactions of the default kind, 'like'.
    await conn.copy_records_to_table("blog_reactions", records=likes,
                                     columns=["blog_id", "user_id"])
    await conn.copy_records_to_table(
        "blog_comments", records=comments,
        columns=["blog_id", "author_id", "body", "created_at", "updated_at"])
    return len(likes), len(comments)


async def seed_blogs(conn: asyncpg.Connection, records: list[tuple], last_id: int,
                     user_ids: list[int], rng: random.Random) -> tuple[int, tuple[int, int]]:
    """One batch of blogs with their likes and comments, in one transaction (an interrupted
    seed leaves whole batches behind; memory stays one batch's worth): the highest blog id
    after it, and the counts of likes and comments it added."""
    async with conn.transaction():
        await conn.copy_records_to_table("blogs", records=records, columns=BLOG_COLUMNS)
        # Seeded users are new, so every blog of theirs past last_id is this batch's.
        published = await conn.fetch(
            "SELECT id, published_at FROM blogs WHERE id > $1 AND author_id = ANY($2) "
            "AND status = 'published'", last_id, user_ids)
        last_id = await conn.fetchval("SELECT max(id) FROM blogs")
        return last_id, await seed_reactions(conn, published, user_ids, rng)


async def seed(pool: asyncpg.Pool, *, users: int, blogs: int, rng: random.Random,
               batch: int = 10_000) -> SeedReport:
    started = time.monotonic()
    password_hash = await Argon2Hasher().hash(SEED_PASSWORD)  # one hash, shared: demo data
    likes = comments = 0
    async with pool.acquire() as conn:
        async with conn.transaction():
            user_ids = await seed_users(conn, users, rng, password_hash)
            place_ids = await seed_locations(conn)
            await seed_follows(conn, user_ids, rng)
        log.info("seeded %d users and %d locations", len(user_ids), len(place_ids))
        now = datetime.now(timezone.utc)
        last_id = await conn.fetchval("SELECT coalesce(max(id), 0) FROM blogs")
        for start in range(0, blogs, batch):
            records = [blog_record(rng, user_ids, place_ids, now)
                       for _ in range(min(batch, blogs - start))]
            # A batch claims many titles' slugs in one transaction, so a blog created or
            # edited meanwhile can deadlock with it; PostgreSQL may end either side. A batch
            # gone again draws what its first try drew, so `--seed N` still repeats.
            state = rng.getstate()

            async def one_batch() -> tuple[int, tuple[int, int]]:
                rng.setstate(state)
                return await seed_blogs(conn, records, last_id, user_ids, rng)

            last_id, added = await once_more_if_deadlocked(
                one_batch, f"seed batch of blogs {start + 1}-{start + len(records)}")
            likes, comments = likes + added[0], comments + added[1]
            log.info("seeded %d/%d blogs (%.0f s)", start + len(records), blogs,
                     time.monotonic() - started)
        # Fresh statistics for the planner, and a visibility map so that paginated_bulk's
        # OFFSET is an index-only scan (no heap fetch per skipped row) from the start.
        for table in ("blogs", "blog_slugs", "blog_reactions", "blog_comments"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    return SeedReport(len(user_ids), blogs, likes, comments, time.monotonic() - started)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nirvana.seed", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=1000, help="new users (default 1000)")
    parser.add_argument("--blogs", type=int, default=10_000, help="new blogs (default 10000)")
    parser.add_argument("--seed", type=int, default=None, help="random seed, for repeatable data")
    args = parser.parse_args(argv)
    if args.users < 1 or args.blogs < 0:
        parser.error("--users must be at least 1 and --blogs at least 0")
    return args


async def run(database_url: str, settings: Settings, args: argparse.Namespace) -> SeedReport:
    pool = await create_pool(database_url, timeout=max(settings.store_timeout, 600.0),
                             min_size=1, max_size=2)
    try:
        await migrate(pool)
        return await seed(pool, users=args.users, blogs=args.blogs,
                          rng=random.Random(args.seed))
    finally:
        await asyncio.shield(pool.close())


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.from_env(os.environ if environ is None else environ)
    except ConfigError as exc:
        print(f"nirvana.seed: error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, format="%(message)s")
    try:
        with tool_postgres(settings, "nirvana.seed") as url:
            report = asyncio.run(run(url, settings, args))
    except EmbeddedError as exc:
        print(f"nirvana.seed: error: {exc}", file=sys.stderr)
        return 1
    print(f"Seeded {report.users} users, {report.blogs} blogs, {report.likes} likes and "
          f"{report.comments} comments in {report.seconds:.1f}s. "
          f"Seeded users sign in with the password {SEED_PASSWORD!r}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
