"""The test session's PostgreSQL runs with the settings conftest asks for: a refused one
fails the session's start instead of leaving the cluster at its defaults unnoticed."""

from __future__ import annotations

import pytest

from nirvana.storage.embedded import EmbeddedError
from tests.support.pg_races import TEST_CLUSTER_SETTINGS

pytestmark = pytest.mark.anyio


def embedded(postgres_server):
    postgres, _ = postgres_server
    if postgres is None:
        pytest.skip("TEST_DATABASE_URL names a server this session did not configure")
    return postgres


async def test_the_clusters_settings_are_in_effect(postgres_server, stores):
    embedded(postgres_server)
    pool, _ = stores
    async with pool.acquire() as conn:
        got = {name: await conn.fetchval(f"SHOW {name}") for name in TEST_CLUSTER_SETTINGS}
    assert got == TEST_CLUSTER_SETTINGS


async def test_a_refused_setting_raises_with_postgresqls_reason(postgres_server, stores):
    postgres = embedded(postgres_server)
    # A quote in a value is the value's, not the statement's end.
    with pytest.raises(EmbeddedError, match="invalid value for parameter \"deadlock_timeout\""):
        postgres.configure({"deadlock_timeout": "1s'; ALTER SYSTEM SET fsync = 'on"})
    with pytest.raises(EmbeddedError, match="unrecognized configuration parameter"):
        postgres.configure({"no_such_setting": "1"})
    with pytest.raises(EmbeddedError, match="not a PostgreSQL setting's name"):
        postgres.configure({"fsync = on; --": "1"})
    pool, _ = stores
    assert await pool.fetchval("SHOW deadlock_timeout") == TEST_CLUSTER_SETTINGS[
        "deadlock_timeout"]
