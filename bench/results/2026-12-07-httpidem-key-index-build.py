"""Time schema steps 0024/0025 (idempotency key indexes) on a big blogs/comments table."""
import asyncio
import sys

from key_index_build import fill, migrated_before, print_sizes, time_steps

BLOGS = int(sys.argv[1]); COMMENTS = int(sys.argv[2])


async def fill_any(conn, table, n):
    # Every column that needs a value gets one by its name or type.
    cols = await conn.fetch(
        "SELECT column_name, data_type, udt_name FROM information_schema.columns "
        "WHERE table_name=$1 AND is_nullable='NO' AND column_default IS NULL AND is_identity='NO' AND is_generated='NEVER'", table)
    names, vals = [], []
    for c in cols:
        name, t = c["column_name"], c["udt_name"]
        names.append(name)
        if name == "author_id": vals.append("(g % 10000) + 1")
        elif name == "blog_id": vals.append(f"(g % {max(BLOGS,1)}) + 1")
        elif name == "body": vals.append("repeat('word ', 280)" if table == "blogs" else "repeat('word ', 30)")
        elif name == "slug": vals.append("'s-' || g")
        elif name == "title": vals.append("'Title ' || g")
        elif name == "status": vals.append("'published'")
        elif name == "audience": vals.append("'public'")
        elif t == "timestamptz": vals.append("now() - g * interval '1 second'")
        elif t in ("int4", "int8"): vals.append("0")
        elif t == "text": vals.append("''")
        elif t == "_text": vals.append("'{}'")
        elif t == "bool": vals.append("false")
        else: vals.append("DEFAULT")
    if table == "blogs":
        names.append("published_at"); vals.append("now() - g * interval '1 second'")
    print(table, list(zip(names, vals)), flush=True)
    await fill(conn, table, ", ".join(names), f"{', '.join(vals)} FROM generate_series(1, {n}) g",
               what=str(n))


async def main():
    async with migrated_before(24) as (conn, steps):
        await fill_any(conn, "blogs", BLOGS)
        await fill_any(conn, "blog_comments", COMMENTS)
        await print_sizes(conn, "blogs", "blog_comments")
        await time_steps(conn, steps, {24, 25}, ("cold-ish", "again"))

asyncio.run(main())
