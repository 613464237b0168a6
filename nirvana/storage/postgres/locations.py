"""Places in PostgreSQL: a blog's place is a row of `locations`, one per city and country
(compared folded: case and accents aside), created by the first blog that names it."""

from __future__ import annotations

import asyncpg

from ...domain.blogs.model import Location, Place


async def location_id(conn: asyncpg.Connection, place: Place) -> int:
    """The id of the place's Location, created on first use. Select first: nearly every
    blog names a known place, and a failed INSERT would still spend an identity value."""
    find = ("SELECT id FROM locations "
            "WHERE city_key = nirvana_fold($1) AND country_key = nirvana_fold($2)")
    found = await conn.fetchval(find, place.city, place.country)
    if found is None:
        found = await conn.fetchval(
            "INSERT INTO locations (city, country) VALUES ($1, $2) "
            "ON CONFLICT (city_key, country_key) DO NOTHING RETURNING id",
            place.city, place.country)
    if found is None:
        # A concurrent writer created it after our first look; now it is committed.
        found = await conn.fetchval(find, place.city, place.country)
    return found


class PgLocations:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def locations(self, prefix: str, limit: int) -> list[Location]:
        # LIKE wildcards in what the user typed are literal characters.
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = await self._pool.fetch(
            """SELECT id, city, country FROM locations
               WHERE city_key LIKE nirvana_fold($1) || '%'
                  OR country_key LIKE nirvana_fold($1) || '%'
               ORDER BY city_key, country_key
               LIMIT $2""",
            pattern, limit)
        return [Location(r["id"], r["city"], r["country"]) for r in rows]
