"""Make the first admin, or change a role, from the command line:

    python -m nirvana.admin promote EMAIL        # the account becomes an admin
    python -m nirvana.admin role EMAIL moderator # or user / admin

Uses DATABASE_URL, or the embedded PostgreSQL under DATA_DIR as run.py does (also while
Nirvana runs: the server reads roles from PostgreSQL on every moderation request, so the new
role counts at once). Each change is written to the audit log with actor 0, the command line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import datetime, timezone
from typing import Mapping, Sequence

from .domain.accounts.users import normalise_email
from .domain.errors import InvalidInputError
from .domain.moderation.entities import Action, Role
from .settings import ConfigError, Settings
from .storage.embedded import EmbeddedError
from .storage.postgres.moderation import PgModerationStore
from .storage.postgres.pool import create_pool, migrate
from .storage.tool_postgres import tool_postgres

COMMAND_LINE_ACTOR = 0  # the audit log's actor for changes made here


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m nirvana.admin",
                                     description="Roles from the command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    promote = sub.add_parser("promote", help="make the account with this email an admin")
    promote.add_argument("email")
    role = sub.add_parser("role", help="give the account with this email a role")
    role.add_argument("email")
    role.add_argument("role", choices=[r.value for r in Role])
    args = parser.parse_args(argv)
    if args.command == "promote":
        args.role = Role.ADMIN.value
    return args


async def set_role(database_url: str, email: str, role: Role) -> str:
    """Give the account `role`; a sentence saying what was done."""
    pool = await create_pool(database_url, timeout=30, min_size=1, max_size=2)
    try:
        await migrate(pool)
        user_id = await pool.fetchval("SELECT id FROM users WHERE email = $1", email)
        if user_id is None:
            raise LookupError(f"no account has the email {email}")
        store = PgModerationStore(pool)
        before = await store.role_of(user_id)
        await store.set_role(user_id, role)
        await store.audit(COMMAND_LINE_ACTOR, Action.SET_ROLE, f"user:{user_id}",
                          "set from the command line (python -m nirvana.admin)", role.value,
                          None, datetime.now(timezone.utc))
        return f"{email} (user {user_id}) was {before} and is now {role.value}."
    finally:
        await asyncio.shield(pool.close())


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = Settings.from_env(os.environ if environ is None else environ)
        email = normalise_email(args.email)
    except (ConfigError, InvalidInputError) as exc:
        print(f"nirvana.admin: error: {exc}", file=sys.stderr)
        return 2
    try:
        with tool_postgres(settings, "nirvana.admin") as url:
            print(asyncio.run(set_role(url, email, Role(args.role))))
    except (EmbeddedError, LookupError) as exc:
        print(f"nirvana.admin: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
