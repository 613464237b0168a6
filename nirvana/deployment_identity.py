"""One deployment's stores, never two deployments' mixed: checked before serving.

User ids are PostgreSQL's, and the chat store and Redis key everything by them: an instance
whose DATABASE_URL names another deployment's database (a typo) while it shares the chat
store or Redis, or a PostgreSQL re-created empty beside an old chat store, would show one
account's chats to another's. So the first start of a deployment makes a random id and
stores it in PostgreSQL, which holds the reference, and a copy in the chat store and Redis;
every start reads them. A store that holds none adopts PostgreSQL's (an upgrade from before
ids, a store emptied on purpose, a new Redis); one that holds another refuses the start.

The id cannot tell a PostgreSQL restored alone from an older backup of this same deployment:
its `users` identity would hand out again ids the chat store still holds chats of. So the
chat store also keeps the highest user id PostgreSQL had handed out at any start, and a
start whose PostgreSQL is below that mark refuses too.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Protocol, Sequence

GUIDE = 'docs/deployment.md, "One deployment\'s stores"'


class DeploymentCheckError(Exception):
    """The start's check of its stores failed; the message says why in one line."""


class DeploymentMismatch(DeploymentCheckError):
    """A store belongs to another deployment, or to another time of this one; the message
    says which and what to do."""


class DeploymentIdStore(Protocol):
    where: str  # the store as the operator configured it, for the refusal
    crossing: str  # what would reach the wrong users through it, for the refusal

    async def adopt(self, candidate: str) -> str | None:
        """The id this store holds, storing `candidate` first if it holds none (race-free
        between starters); None if the store cannot be checked now (Redis down)."""
        ...


class DeploymentCopy(DeploymentIdStore, Protocol):
    @property
    def forget(self) -> str | None:
        """How the operator makes it forget an earlier copy's id, for a copy's refusal; None
        for a store of record, whose other id is never to be forgotten by a copy."""
        ...


class DeploymentReference(DeploymentIdStore, Protocol):
    async def copied_on(self) -> date | None:
        """When this deployment was made as a copy of another (`nirvana.backup restore
        --new-deployment`), None if it was not: asked only to word a refusal."""
        ...


class UserIdsIssued(Protocol):
    where: str

    async def users_issued(self) -> int:
        """The highest user id handed out so far (0 before the first)."""
        ...


class UserIdsMark(Protocol):
    where: str

    async def raise_users_mark(self, issued: int) -> int:
        """Raise the mark to `issued` (never lower it, so starters racing cannot); the mark
        as it was before."""
        ...


def new_deployment_id() -> str:
    return secrets.token_hex(16)


def refusal(reference: DeploymentIdStore, store: DeploymentCopy, held: str, ours: str,
            *, made_now: bool, copied_on: date | None = None) -> str:
    if copied_on is not None:
        # Not the pre-id backup's case: forgetting the original's id would join the copy to
        # the original's users. Redis keeps nothing of record, so an earlier copy's key there,
        # which this one replaces (staging made again), is forgotten rightly. A chat store
        # never is: restore fills the copy's embedded one, so one holding another id holds
        # another deployment's chats, the original's or an earlier copy's.
        new = (f" ({reference.where} is a copy, restored with --new-deployment on "
               f"{copied_on.isoformat()}. ")
        if store.forget is None:
            new += ("Whether this store is the original's (a copied .env) or an earlier "
                    "copy's that this one replaces, unset MONGODB_URL: the copy's chats are "
                    "in its embedded store. Never make this store forget its id: its chats' "
                    "user ids are another deployment's users)")
        else:
            new += (f"If this store is the original's (a copied .env), give the copy its own: "
                    f"unset MONGODB_URL (the copy's chats are in its embedded store) and set "
                    f"another REDIS_URL (another Redis, or another database number); another "
                    f"MONGODB_DB would start it on an empty chat database. If it is an "
                    f"earlier copy's that this one replaces, make it forget that copy's id: "
                    f"{store.forget})")
    elif made_now:
        new = (f" ({reference.where} was given its id by this very start: a database new, "
               f"re-created, or restored from a backup taken before deployment ids?)")
    else:
        new = ""
    return (f"{store.where} belongs to another deployment: it holds deployment id {held}, "
            f"{reference.where} holds {ours}{new}; serving would show {store.crossing} to "
            f"this one's users. Check that DATABASE_URL, MONGODB_URL, MONGODB_DB and "
            f"REDIS_URL name one deployment's stores ({GUIDE}).")


def older(reference: UserIdsIssued, chat: UserIdsMark, issued: int, mark: int) -> str:
    return (f"{reference.where} is older than {chat.where}: its users identity is at {issued} "
            f"but it had handed out user ids up to {mark} before (restored alone, re-created, "
            f"failed over to a replica that had lost them, or a copy of this deployment "
            f"restored without --new-deployment started on this chat store?), so new accounts "
            f"would get ids whose chats the chat store holds. Move the identity past them and "
            f"every user id the chat store names (python -m nirvana.admin user-ids --move, or "
            f"SELECT setval(pg_get_serial_sequence('users', 'id'), "
            f"greatest(<the highest the chat store names>, {mark}))), or drop the chat store "
            f"(MONGODB_DB) ({GUIDE}).")


async def check_deployment(reference: DeploymentReference,
                           copies: Sequence[DeploymentCopy], *, new_id: str | None = None) -> str:
    """This deployment's id (`reference`'s, made now if it holds none); raise
    DeploymentMismatch if one of `copies` holds another. Copies are checked in order and
    each adopts the id if it holds none, so a start refused by a later copy has given
    earlier ones only what they lacked."""
    candidate = new_id or new_deployment_id()
    ours = await reference.adopt(candidate)
    if ours is None:
        raise RuntimeError(f"{reference.where} holds no deployment id and took none")
    for store in copies:
        held = await store.adopt(ours)
        if held is not None and held != ours:
            # A random id of 128 bits: the reference holding the candidate means it took it now.
            raise DeploymentMismatch(refusal(reference, store, held, ours,
                                             made_now=ours == candidate,
                                             copied_on=await reference.copied_on()))
    return ours


async def check_user_ids(reference: UserIdsIssued, chat: UserIdsMark) -> None:
    """Raise DeploymentMismatch if `reference` has handed out fewer user ids than it had at
    an earlier start (a PostgreSQL restored alone from an older backup); else raise the
    chat store's mark to it."""
    issued = await reference.users_issued()
    mark = await chat.raise_users_mark(issued)
    if mark > issued:
        # Another starter may have raised the mark from a later read (sign-ups on a serving
        # instance moved the identity since ours): every mark came from a read before our
        # raise returned, so a PostgreSQL that is not older is at least there now.
        issued = await reference.users_issued()
        if mark > issued:
            raise DeploymentMismatch(older(reference, chat, issued, mark))
