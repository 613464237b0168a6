"""One deployment's stores, never two deployments' mixed: checked before serving.

User ids are PostgreSQL's, and the chat store and Redis key everything by them: an instance
whose DATABASE_URL names another deployment's database (a typo) while it shares the chat
store or Redis, or a PostgreSQL re-created empty beside an old chat store, would show one
account's chats to another's. So the first start of a deployment makes a random id and
stores it in PostgreSQL, which holds the reference, and a copy in the chat store and Redis;
every start reads them. A store that holds none adopts PostgreSQL's (an upgrade from before
ids, a store emptied on purpose, a new Redis); one that holds another refuses the start.
"""

from __future__ import annotations

import secrets
from typing import Protocol, Sequence

GUIDE = 'docs/deployment.md, "One deployment\'s stores"'


class DeploymentMismatch(Exception):
    """A store belongs to another deployment; the message says which and what to do."""


class DeploymentIdStore(Protocol):
    where: str  # the store as the operator configured it, for the refusal

    async def adopt(self, candidate: str) -> str | None:
        """The id this store holds, storing `candidate` first if it holds none (race-free
        between starters); None if the store cannot be checked now (Redis down)."""
        ...


def new_deployment_id() -> str:
    return secrets.token_hex(16)


def refusal(reference: DeploymentIdStore, store: DeploymentIdStore, held: str,
            ours: str) -> str:
    return (f"{store.where} belongs to another deployment: it holds deployment id {held}, "
            f"{reference.where} holds {ours}; serving would show that deployment's chats to "
            f"this one's users. Check that DATABASE_URL, MONGODB_URL, MONGODB_DB and "
            f"REDIS_URL name one deployment's stores ({GUIDE}).")


async def check_deployment(reference: DeploymentIdStore, copies: Sequence[DeploymentIdStore],
                           *, new_id: str | None = None) -> str:
    """This deployment's id (`reference`'s, made now if it holds none); raise
    DeploymentMismatch if one of `copies` holds another. Copies are checked in order and
    each adopts the id if it holds none, so a start refused by a later copy has given
    earlier ones only what they lacked."""
    ours = await reference.adopt(new_id or new_deployment_id())
    if ours is None:
        raise RuntimeError(f"{reference.where} holds no deployment id and took none")
    for store in copies:
        held = await store.adopt(ours)
        if held is not None and held != ours:
            raise DeploymentMismatch(refusal(reference, store, held, ours))
    return ours
