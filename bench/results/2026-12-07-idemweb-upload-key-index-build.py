"""Time schema step 0026 (uploads' idempotency key index) on a big media_uploads table."""
import asyncio
import sys

from key_index_build import fill, migrated_before, print_sizes, time_steps

ROWS = int(sys.argv[1]); OWNERS = int(sys.argv[2])


async def main():
    async with migrated_before(26) as (conn, steps):
        await fill(conn, "media_uploads",
                   "url, owner_id, kind, mime, size, created_at, original_name",
                   "'/media/' || md5(g::text) || '.webp', (g % $1) + 1, 'image', 'image/webp', "
                   "100000 + g % 900000, now() - g * interval '1 second', 'photo-' || g || '.jpg' "
                   "FROM generate_series(1, $2) g", OWNERS, ROWS,
                   what=f"{ROWS} over {OWNERS} owners")
        await print_sizes(conn, "media_uploads")
        await time_steps(conn, steps, {26}, ("first", "again"))

asyncio.run(main())
