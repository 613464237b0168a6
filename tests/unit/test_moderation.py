"""The moderation rules, on in-memory fakes of every port."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pyotp
import pytest

from nirvana.domain.accounts.two_factor import TwoFactorSettings
from nirvana.domain.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
)
from nirvana.domain.moderation.entities import (
    Action,
    CaseStatus,
    Named,
    Role,
    Target,
    TargetKind,
)
from nirvana.domain.moderation.errors import (
    AccountSuspendedError,
    NotAdminError,
    NotModeratorError,
)
from nirvana.domain.moderation.service import ActionRequest, Moderation
from nirvana.domain.moderation.suspension import SuspensionGate
from nirvana.moderation_content import ModeratedContent
from tests.support.accounts_world import accounts_world
from tests.support.clock import FakeClock
from tests.support.fakes_accounts import FakeUsers
from tests.support.fakes_moderation import (
    FakeAccountSessions,
    FakeContent,
    FakeModerationStore,
    FakeNotices,
)

AUTHOR, ANN, BOB, MOD, ADMIN, OTHER_MOD = 1, 2, 3, 10, 20, 11
BLOG = Target(TargetKind.BLOG, id=5)


@dataclass
class World:
    moderation: Moderation
    store: FakeModerationStore
    content: FakeContent
    sessions: FakeAccountSessions
    notices: FakeNotices
    clock: FakeClock


@pytest.fixture
def w() -> World:
    store, content = FakeModerationStore(), FakeContent()
    store.roles = {AUTHOR: Role.USER, ANN: Role.USER, BOB: Role.USER, MOD: Role.MODERATOR,
                   OTHER_MOD: Role.MODERATOR, ADMIN: Role.ADMIN}
    content.add(BLOG, AUTHOR)
    sessions, notices, clock = FakeAccountSessions(), FakeNotices(), FakeClock()
    return World(Moderation(store=store, content=content, sessions=sessions, notices=notices,
                            clock=clock), store, content, sessions, notices, clock)


def suspend(user_id: int, until=None) -> ActionRequest:
    return ActionRequest(Action.SUSPEND, Target(TargetKind.USER, id=user_id), "abuse",
                         until=until)


async def test_reports_of_one_thing_gather_into_one_case_and_a_repeat_counts_once(w):
    first = await w.moderation.report(ANN, BLOG, "spam")
    assert await w.moderation.report(BOB, BLOG, "spam too") == first
    assert await w.moderation.report(ANN, BLOG, "again!") == first
    [review] = await w.moderation.queue(MOD, CaseStatus.OPEN, None, 10)
    assert review.case.count == 2 and review.preview == "blog:5"
    assert [r.reason for r in review.case.reports] == ["spam too", "spam"]


async def test_what_the_reporter_cannot_see_cannot_be_reported(w):
    hidden = w.content.add(Target(TargetKind.BLOG, id=6), AUTHOR, hidden_from={ANN})
    with pytest.raises(NotFoundError):
        await w.moderation.report(ANN, hidden, "spam")
    with pytest.raises(NotFoundError):
        await w.moderation.report(ANN, Target(TargetKind.BLOG, id=404), "spam")
    me = w.content.add(Target(TargetKind.USER, id=ANN), ANN)
    with pytest.raises(InvalidInputError):
        await w.moderation.report(ANN, me, "myself")
    with pytest.raises(InvalidInputError):
        await w.moderation.report(ANN, BLOG, " \n ")
    assert w.store.by_id == {}


async def test_a_take_down_closes_the_case_tells_each_reporter_and_is_audited(w):
    case_id = await w.moderation.report(ANN, BLOG, "spam")
    await w.moderation.report(BOB, BLOG, "spam")
    entry = await w.moderation.act(MOD, ActionRequest(Action.REMOVE_BLOG, BLOG, "spam"))
    assert (entry.actor_id, entry.action, entry.target, entry.case_id) == \
        (MOD, Action.REMOVE_BLOG, "blog:5", case_id)
    assert w.content.done == [("remove", "blog:5")]
    assert [(who, case) for who, case, _ in w.notices.told] == [(ANN, case_id),
                                                                (BOB, case_id)]
    assert all("removed the blog" in text for *_, text in w.notices.told)
    assert w.store.by_id[case_id].status is CaseStatus.ACTIONED


async def test_showing_again_closes_nothing_and_dismissing_twice_is_a_conflict(w):
    case_id = await w.moderation.report(ANN, BLOG, "spam")
    await w.moderation.act(MOD, ActionRequest(Action.SHOW_BLOG, BLOG, "fine"))
    assert w.notices.told == [] and w.store.by_id[case_id].status is CaseStatus.OPEN
    await w.moderation.act(MOD, ActionRequest(Action.DISMISS, None, "fine", case_id=case_id))
    assert "took no action" in w.notices.told[0][2]
    with pytest.raises(ConflictError):
        await w.moderation.act(MOD, ActionRequest(Action.DISMISS, None, "x", case_id=case_id))
    assert [e.action for e in w.store.log] == [Action.SHOW_BLOG, Action.DISMISS]


async def test_only_moderators_act_and_only_admins_change_roles_or_read_the_log(w):
    with pytest.raises(NotModeratorError):
        await w.moderation.act(ANN, ActionRequest(Action.HIDE_BLOG, BLOG, "x"))
    with pytest.raises(NotModeratorError):
        await w.moderation.queue(ANN, CaseStatus.OPEN, None, 10)
    role = ActionRequest(Action.SET_ROLE, Target(TargetKind.USER, id=ANN), "helps",
                         role=Role.MODERATOR)
    with pytest.raises(NotAdminError):
        await w.moderation.act(MOD, role)
    with pytest.raises(NotAdminError):
        await w.moderation.audit_log(MOD, None, 10)
    await w.moderation.act(ADMIN, role)
    assert w.store.roles[ANN] is Role.MODERATOR
    with pytest.raises(ConflictError):
        await w.moderation.act(ADMIN, ActionRequest(
            Action.SET_ROLE, Target(TargetKind.USER, id=ADMIN), "x", role=Role.USER))
    [entry] = await w.moderation.audit_log(ADMIN, None, 10)
    assert entry.detail == "moderator"


async def test_who_may_suspend_whom(w):
    with pytest.raises(NotAdminError):
        await w.moderation.act(MOD, suspend(OTHER_MOD))
    with pytest.raises(ConflictError):
        await w.moderation.act(MOD, suspend(ADMIN))
    with pytest.raises(ConflictError):
        await w.moderation.act(MOD, suspend(MOD))
    with pytest.raises(NotFoundError):
        await w.moderation.act(MOD, suspend(999))
    await w.moderation.act(ADMIN, suspend(OTHER_MOD))
    assert w.sessions.ended == [OTHER_MOD]


async def test_a_suspension_ends_sessions_and_refuses_sign_in_until_its_end(w):
    gate = SuspensionGate(w.store, w.clock)
    until = w.clock.now() + timedelta(days=1)
    with pytest.raises(InvalidInputError):
        await w.moderation.act(MOD, suspend(ANN, w.clock.now() - timedelta(seconds=1)))
    entry = await w.moderation.act(MOD, suspend(ANN, until))
    assert entry.detail == f"until {until.isoformat()}"
    assert w.sessions.ended == [ANN]
    with pytest.raises(AccountSuspendedError) as refused:
        await gate.check(ANN)
    assert refused.value.details == {"until": until.isoformat()}
    await gate.check(BOB)
    w.clock.advance(24 * 3600)
    await gate.check(ANN)  # over


async def test_restore_lifts_it_and_restoring_twice_is_a_conflict(w):
    gate = SuspensionGate(w.store, w.clock)
    await w.moderation.act(MOD, suspend(ANN))
    with pytest.raises(AccountSuspendedError) as refused:
        await gate.check(ANN)
    assert refused.value.details == {"until": None}
    restore = ActionRequest(Action.RESTORE, Target(TargetKind.USER, id=ANN), "appeal")
    await w.moderation.act(MOD, restore)
    await gate.check(ANN)
    with pytest.raises(ConflictError):
        await w.moderation.act(MOD, restore)


async def test_an_action_on_the_wrong_kind_of_target_is_refused(w):
    with pytest.raises(InvalidInputError):
        await w.moderation.act(MOD, ActionRequest(Action.REMOVE_MESSAGE, BLOG, "x"))
    assert w.store.log == []


def test_suspension_is_a_sign_in_refusal_not_a_failed_authentication():
    # The sign-in step raises a 403-class error, so the password failure counters (401) are
    # left alone and the web form shows the message.
    assert not issubclass(AccountSuspendedError, AuthenticationError)


async def test_a_suspension_between_the_password_and_the_code_refuses_the_code_step(w):
    world = accounts_world(w.clock, two_factor=True,
                           sign_in_gate=SuspensionGate(w.store, w.clock))
    accounts = world.accounts
    settings = TwoFactorSettings(world.second_factor, accounts, w.clock)
    user_id = (await accounts.sign_up("ann@example.com", None, "Ann", "password one")).user.id
    w.store.roles[user_id] = Role.USER
    setup = await settings.set_up(user_id, "password one")
    await settings.confirm(user_id, pyotp.TOTP(setup.secret).at(w.clock.now().timestamp()))
    challenge = await accounts.sign_in("ann@example.com", "password one", "1.1.1.1")
    await w.moderation.act(MOD, suspend(user_id))
    w.clock.advance(30)
    with pytest.raises(AccountSuspendedError):
        await accounts.complete_sign_in(
            challenge.token, pyotp.TOTP(setup.secret).at(w.clock.now().timestamp()), "1.1.1.1")



class OnlyManyReads(FakeUsers):
    """Users read together or not at all: a page of cases names its people in one read."""

    def __init__(self) -> None:
        super().__init__(FakeClock())
        self.reads: list[set[int]] = []

    async def get(self, user_id: int):
        raise AssertionError(f"user {user_id} read alone")

    async def many(self, user_ids):
        self.reads.append(set(user_ids))
        return await super().many(user_ids)


async def test_the_people_a_page_of_cases_names_are_read_in_one_call():
    users = OnlyManyReads()
    ann = await users.create("ann@example.com", "ann", "Ann", "h")
    bob = await users.create("bob@example.com", "bob", "Bob <b>", "h")
    content = ModeratedContent(None, None, None, users)  # type: ignore[arg-type]
    named = await content.names([ann.id, bob.id, ann.id, 404])
    assert named == {ann.id: Named(ann.id, "Ann", "ann"), bob.id: Named(bob.id, "Bob <b>", "bob")}
    assert users.reads == [{ann.id, bob.id, 404}]
