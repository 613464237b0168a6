"""The deployment's id in PostgreSQL (schema step 0020): the reference the other stores'
copies are checked against (nirvana/deployment_identity.py)."""

from __future__ import annotations

import asyncpg


class PgDeploymentId:
    def __init__(self, pool: asyncpg.Pool, where: str) -> None:
        self._pool = pool
        self.where = where

    async def adopt(self, candidate: str) -> str:
        """The id stored, storing `candidate` first if there is none. Starters racing agree:
        the first insert wins, the others' do nothing and read it back."""
        held = await self._pool.fetchval("SELECT id FROM deployment")
        if held is not None:
            return held
        await self._pool.execute(
            "INSERT INTO deployment (id) VALUES ($1) ON CONFLICT DO NOTHING", candidate)
        return await self._pool.fetchval("SELECT id FROM deployment")
