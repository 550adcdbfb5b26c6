"""Group use cases: candidates, creating, joining, leaving, passwords and the guessing limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.errors import (
    AlreadyInGroupError,
    AlreadyInThisGroupError,
    AlreadySubmittedError,
    AmbiguousAssignmentError,
    AssignmentNotFoundError,
    GroupFullError,
    GroupNotFoundError,
    MembershipLockedError,
    NoPasswordModeError,
    NotCandidateError,
    NotInGroupError,
    PasswordRequiredError,
    PinFormatError,
    PinTakenError,
    PredefinedGroupsError,
    TooManyAttemptsError,
    WrongPasswordError,
)
from bot.domain.models import GroupMode, Person
from bot.services.registry import Services
from storage.db import Database, fetch_all
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import GUILD, STAFF, incoming, make_assignment, student
from tests.snapshot import unchanged

pytestmark = pytest.mark.usefixtures("db", "files")


async def pins(db: Database) -> list[str]:
    return [row["pin"] for row in await fetch_all(db.conn, "SELECT pin FROM groups ORDER BY pin")]


async def join_failures(db: Database) -> int:
    rows = await fetch_all(db.conn, "SELECT count(*) FROM join_failures")
    return int(rows[0][0])


def person(n: int, *roles: int) -> Person:
    return Person(user_id=student(n).user_id, username=f"student{n}", role_ids=frozenset(roles))


async def group_with(services: Services, pin: str = "1234", *members: int) -> None:
    now = services.clock.now()
    await services.groups.create(GUILD, student(members[0]), "Lab 1", pin, sent_at=now)
    for n in members[1:]:
        await services.groups.join(GUILD, student(n), "Lab 1", pin, sent_at=now)


# --- candidates ----------------------------------------------------------------------------
async def test_ready_gives_a_five_digit_candidate_number(services: Services) -> None:
    await make_assignment(services)
    ready = await services.groups.ready(GUILD, student(1), "Lab 1")
    assert 10_000 <= ready.candidate.number <= 99_999
    assert ready.group is None


async def test_candidate_number_is_stable(services: Services) -> None:
    await make_assignment(services)
    first = await services.groups.ready(GUILD, student(1), "Lab 1")
    await services.groups.create(GUILD, student(1), "Lab 1", None, sent_at=services.clock.now())
    again = await services.groups.ready(GUILD, student(1), "lab 1")
    assert again.candidate.number == first.candidate.number
    assert again.group is not None
    assert again.group.members[0].number == first.candidate.number


async def test_candidate_numbers_are_unique_within_the_assignment(services: Services) -> None:
    await make_assignment(services)
    numbers = [
        (await services.groups.ready(GUILD, student(n), "Lab 1")).candidate.number
        for n in range(40)
    ]
    assert len(set(numbers)) == 40


async def test_group_command_registers_the_candidate(services: Services) -> None:
    await make_assignment(services)
    created = await services.groups.create(
        GUILD, student(1), "Lab 1", None, sent_at=services.clock.now()
    )
    assert 10_000 <= created.view.members[0].number <= 99_999


async def test_role_assignment_refuses_a_member_without_the_role(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, role_id=555)
    async with unchanged(db, files):
        with pytest.raises(NotCandidateError):
            await services.groups.create(
                GUILD, student(1), "Lab 1", None, sent_at=services.clock.now()
            )
    with pytest.raises(NotCandidateError):
        await services.groups.ready(GUILD, student(1), "Lab 1")


async def test_role_assignment_accepts_a_member_with_the_role(services: Services) -> None:
    await make_assignment(services, role_id=555)
    ready = await services.groups.ready(GUILD, student(1, 555), "Lab 1")
    assert ready.candidate.user_id == student(1).user_id


# --- assignment names ----------------------------------------------------------------------
async def test_unknown_assignment_name_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    async with unchanged(db, files):
        with pytest.raises(AssignmentNotFoundError):
            await services.groups.create(
                GUILD, student(1), "Lab 9", None, sent_at=services.clock.now()
            )


async def test_ambiguous_assignment_name_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, "Lab 1")
    await make_assignment(services, "Lab 2")
    async with unchanged(db, files):
        with pytest.raises(AmbiguousAssignmentError):
            await services.groups.create(
                GUILD, student(1), "lab", None, sent_at=services.clock.now()
            )


async def test_assignment_name_matches_case_insensitively(services: Services) -> None:
    await make_assignment(services, "Lab 1")
    await make_assignment(services, "Lab 10")
    ready = await services.groups.ready(GUILD, student(1), "LAB 1")
    assert ready.assignment.name == "Lab 1"


async def test_assignment_of_another_guild_is_not_found(services: Services) -> None:
    await make_assignment(services)
    with pytest.raises(AssignmentNotFoundError):
        await services.groups.ready(GUILD + 1, student(1), "Lab 1")


# --- create --------------------------------------------------------------------------------
async def test_create_with_chosen_pin(services: Services) -> None:
    await make_assignment(services)
    created = await services.groups.create(
        GUILD, student(1), "Lab 1", "0042", sent_at=services.clock.now()
    )
    assert created.view.group.pin == "0042"
    assert created.view.group.label == "0042"
    assert created.password is None


async def test_create_without_pin_picks_a_free_one(services: Services) -> None:
    await make_assignment(services)
    created = await services.groups.create(
        GUILD, student(1), "Lab 1", None, sent_at=services.clock.now()
    )
    pin = created.view.group.pin
    assert len(pin) == 4 and pin.isdigit()


@pytest.mark.parametrize("pin", ["123", "12345", "abcd", "12 4"])
async def test_create_with_pin_not_four_digits_is_refused(
    services: Services, db: Database, files: FileStore, pin: str
) -> None:
    await make_assignment(services)
    async with unchanged(db, files):
        with pytest.raises(PinFormatError):
            await services.groups.create(
                GUILD, student(1), "Lab 1", pin, sent_at=services.clock.now()
            )


async def test_create_with_taken_pin_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    await group_with(services, "1234", 1)
    async with unchanged(db, files):
        with pytest.raises(PinTakenError):
            await services.groups.create(
                GUILD, student(2), "Lab 1", "1234", sent_at=services.clock.now()
            )


async def test_create_when_already_in_a_group_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    await group_with(services, "1234", 1)
    async with unchanged(db, files):
        with pytest.raises(AlreadyInGroupError):
            await services.groups.create(
                GUILD, student(1), "Lab 1", "5678", sent_at=services.clock.now()
            )


async def test_create_after_the_deadline_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    clock.advance(3600)
    async with unchanged(db, files):
        with pytest.raises(MembershipLockedError):
            await services.groups.create(GUILD, student(1), "Lab 1", None, sent_at=clock.now())


# --- join ----------------------------------------------------------------------------------
async def test_join_adds_the_member(services: Services) -> None:
    await make_assignment(services)
    await group_with(services, "1234", 1)
    view = await services.groups.join(
        GUILD, student(2), "Lab 1", "1234", sent_at=services.clock.now()
    )
    assert {m.user_id for m in view.members} == {student(1).user_id, student(2).user_id}


@pytest.mark.parametrize("pin", ["12", "12345", "abcd"])
async def test_join_with_malformed_pin_is_refused_and_not_a_failed_attempt(
    services: Services, db: Database, files: FileStore, pin: str
) -> None:
    await make_assignment(services)
    async with unchanged(db, files):
        with pytest.raises(PinFormatError):
            await services.groups.join(
                GUILD, student(1), "Lab 1", pin, sent_at=services.clock.now()
            )
    assert await join_failures(db) == 0


async def test_join_unknown_pin_is_refused_and_counts_as_a_failed_attempt(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    async with unchanged(db, files):
        with pytest.raises(GroupNotFoundError):
            await services.groups.join(
                GUILD, student(1), "Lab 1", "9999", sent_at=services.clock.now()
            )
    assert await join_failures(db) == 1


async def test_join_when_already_in_a_group_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    await group_with(services, "1111", 1)
    await group_with(services, "2222", 2)
    async with unchanged(db, files):
        with pytest.raises(AlreadyInGroupError):
            await services.groups.join(
                GUILD, student(1), "Lab 1", "2222", sent_at=services.clock.now()
            )


async def test_join_own_group_again_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    await group_with(services, "1111", 1)
    async with unchanged(db, files):
        with pytest.raises(AlreadyInThisGroupError):
            await services.groups.join(
                GUILD, student(1), "Lab 1", "1111", sent_at=services.clock.now()
            )


async def test_join_full_group_is_refused_and_not_a_failed_attempt(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, max_group_size=2)
    await group_with(services, "1234", 1, 2)
    async with unchanged(db, files):
        with pytest.raises(GroupFullError):
            await services.groups.join(
                GUILD, student(3), "Lab 1", "1234", sent_at=services.clock.now()
            )
    assert await join_failures(db) == 0


async def test_join_with_switch_moves_to_the_other_group(services: Services) -> None:
    await make_assignment(services)
    await group_with(services, "1111", 1, 3)
    await group_with(services, "2222", 2)
    view = await services.groups.join(
        GUILD, student(1), "Lab 1", "2222", switch=True, sent_at=services.clock.now()
    )
    assert view.group.pin == "2222"
    assert {m.user_id for m in view.members} == {student(1).user_id, student(2).user_id}
    info = await services.groups.info(GUILD, student(3), "Lab 1")
    assert [m.user_id for m in info.members] == [student(3).user_id]


async def test_switch_deletes_the_old_group_left_empty_without_uploads(
    services: Services, db: Database
) -> None:
    await make_assignment(services)
    await group_with(services, "1111", 1)
    await group_with(services, "2222", 2)
    await services.groups.join(
        GUILD, student(1), "Lab 1", "2222", switch=True, sent_at=services.clock.now()
    )
    assert await pins(db) == ["2222"]


async def test_switch_into_a_full_group_is_refused_and_keeps_the_old_group(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, max_group_size=1)
    await group_with(services, "1111", 1)
    await group_with(services, "2222", 2)
    async with unchanged(db, files):
        with pytest.raises(GroupFullError):
            await services.groups.join(
                GUILD, student(1), "Lab 1", "2222", switch=True, sent_at=services.clock.now()
            )


async def test_join_after_the_deadline_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h", late_until="+2h")
    await group_with(services, "1234", 1)
    clock.advance(3600)
    async with unchanged(db, files):
        with pytest.raises(MembershipLockedError):
            await services.groups.join(GUILD, student(2), "Lab 1", "1234", sent_at=clock.now())


async def test_join_group_after_its_submit_once_handin_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, submit_once=True)
    await group_with(services, "1234", 1)
    now = services.clock.now()
    await services.submissions.upload(GUILD, student(1), "Lab 1", incoming(b"x"), sent_at=now)
    await services.submissions.handin(GUILD, student(1), "Lab 1", sent_at=now)
    async with unchanged(db, files):
        with pytest.raises(AlreadySubmittedError):
            await services.groups.join(GUILD, student(2), "Lab 1", "1234", sent_at=now)


async def test_switch_out_of_a_submit_once_group_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, submit_once=True)
    await group_with(services, "1111", 1)
    await group_with(services, "2222", 2)
    now = services.clock.now()
    await services.submissions.upload(GUILD, student(1), "Lab 1", incoming(b"x"), sent_at=now)
    await services.submissions.handin(GUILD, student(1), "Lab 1", sent_at=now)
    async with unchanged(db, files):
        with pytest.raises(AlreadySubmittedError):
            await services.groups.join(GUILD, student(1), "Lab 1", "2222", switch=True, sent_at=now)


# --- password mode -------------------------------------------------------------------------
async def test_password_mode_create_returns_a_password(services: Services) -> None:
    await make_assignment(services, mode=GroupMode.PASSWORD)
    created = await services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=services.clock.now()
    )
    assert created.password is not None and len(created.password) == 16
    info = await services.groups.info(GUILD, student(1), "Lab 1")
    assert info.group.password == created.password


async def test_join_with_pin_and_password(services: Services) -> None:
    await make_assignment(services, mode=GroupMode.PASSWORD)
    created = await services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=services.clock.now()
    )
    view = await services.groups.join(
        GUILD, student(2), "Lab 1", "1234", created.password, sent_at=services.clock.now()
    )
    assert len(view.members) == 2


async def test_join_without_password_in_password_mode_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PASSWORD)
    await group_with(services, "1234", 1)
    async with unchanged(db, files):
        for missing in (None, "", "   "):
            with pytest.raises(PasswordRequiredError):
                await services.groups.join(
                    GUILD, student(2), "Lab 1", "1234", missing, sent_at=services.clock.now()
                )


async def test_join_with_wrong_password_is_refused_and_counts_as_a_failed_attempt(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PASSWORD)
    await group_with(services, "1234", 1)
    async with unchanged(db, files):
        with pytest.raises(WrongPasswordError):
            await services.groups.join(
                GUILD, student(2), "Lab 1", "1234", "not-the-password", sent_at=services.clock.now()
            )
    assert await join_failures(db) == 1


async def test_regenerated_password_replaces_the_old_one(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PASSWORD)
    created = await services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=services.clock.now()
    )
    view, new = await services.groups.regenerate_password(GUILD, student(1), "Lab 1")
    assert new != created.password and view.group.password == new
    async with unchanged(db, files):
        with pytest.raises(WrongPasswordError):
            await services.groups.join(
                GUILD, student(2), "Lab 1", "1234", created.password, sent_at=services.clock.now()
            )
    joined = await services.groups.join(
        GUILD, student(2), "Lab 1", "1234", new, sent_at=services.clock.now()
    )
    assert len(joined.members) == 2


async def test_any_member_can_regenerate_the_password(services: Services) -> None:
    await make_assignment(services, mode=GroupMode.PASSWORD)
    created = await services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=services.clock.now()
    )
    await services.groups.join(
        GUILD, student(2), "Lab 1", "1234", created.password, sent_at=services.clock.now()
    )
    _, new = await services.groups.regenerate_password(GUILD, student(2), "Lab 1")
    info = await services.groups.info(GUILD, student(1), "Lab 1")
    assert info.group.password == new


async def test_regenerate_password_outside_password_mode_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    await group_with(services, "1234", 1)
    async with unchanged(db, files):
        with pytest.raises(NoPasswordModeError):
            await services.groups.regenerate_password(GUILD, student(1), "Lab 1")


async def test_regenerate_password_without_a_group_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PASSWORD)
    async with unchanged(db, files):
        with pytest.raises(NotInGroupError):
            await services.groups.regenerate_password(GUILD, student(1), "Lab 1")


# --- leave ---------------------------------------------------------------------------------
async def test_leave_by_the_last_member_deletes_an_empty_group_and_frees_its_pin(
    services: Services, db: Database
) -> None:
    await make_assignment(services)
    await group_with(services, "1234", 1)
    left = await services.groups.leave(GUILD, student(1), "Lab 1", sent_at=services.clock.now())
    assert left.deleted and left.pin == "1234"
    assert await pins(db) == []
    created = await services.groups.create(
        GUILD, student(2), "Lab 1", "1234", sent_at=services.clock.now()
    )
    assert created.view.group.pin == "1234"


async def test_leave_by_one_of_two_members_keeps_the_group(services: Services) -> None:
    await make_assignment(services)
    await group_with(services, "1234", 1, 2)
    left = await services.groups.leave(GUILD, student(1), "Lab 1", sent_at=services.clock.now())
    assert not left.deleted
    info = await services.groups.info(GUILD, student(2), "Lab 1")
    assert [m.user_id for m in info.members] == [student(2).user_id]


async def test_leave_keeps_an_empty_group_with_uploads_and_its_pin(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    await group_with(services, "1234", 1)
    now = services.clock.now()
    await services.submissions.upload(GUILD, student(1), "Lab 1", incoming(b"work"), sent_at=now)
    left = await services.groups.leave(GUILD, student(1), "Lab 1", sent_at=now)
    assert not left.deleted
    assert await pins(db) == ["1234"]
    async with unchanged(db, files):
        with pytest.raises(PinTakenError):
            await services.groups.create(GUILD, student(2), "Lab 1", "1234", sent_at=now)


async def test_empty_group_with_uploads_can_be_rejoined(services: Services) -> None:
    await make_assignment(services)
    await group_with(services, "1234", 1)
    now = services.clock.now()
    await services.submissions.upload(GUILD, student(1), "Lab 1", incoming(b"work"), sent_at=now)
    await services.groups.leave(GUILD, student(1), "Lab 1", sent_at=now)
    view = await services.groups.join(GUILD, student(2), "Lab 1", "1234", sent_at=now)
    assert [m.user_id for m in view.members] == [student(2).user_id]
    status = await services.submissions.status(GUILD, student(2), "Lab 1")
    assert len(status.uploads) == 1


async def test_leave_without_a_group_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    async with unchanged(db, files):
        with pytest.raises(NotInGroupError):
            await services.groups.leave(GUILD, student(1), "Lab 1", sent_at=services.clock.now())


async def test_leave_after_the_deadline_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group_with(services, "1234", 1)
    clock.advance(3600)
    async with unchanged(db, files):
        with pytest.raises(MembershipLockedError):
            await services.groups.leave(GUILD, student(1), "Lab 1", sent_at=clock.now())


async def test_leave_after_a_submit_once_handin_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, submit_once=True)
    await group_with(services, "1234", 1, 2)
    now = services.clock.now()
    await services.submissions.upload(GUILD, student(1), "Lab 1", incoming(b"x"), sent_at=now)
    await services.submissions.handin(GUILD, student(2), "Lab 1", sent_at=now)
    async with unchanged(db, files):
        with pytest.raises(AlreadySubmittedError):
            await services.groups.leave(GUILD, student(1), "Lab 1", sent_at=now)


async def test_leave_is_allowed_after_the_assignment_deadline_within_an_extension(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+1h")
    await group_with(services, "1234", 1, 2)
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "1234", "+2h", sent_at=clock.now())
    clock.advance(3600 + 60)
    left = await services.groups.leave(GUILD, student(1), "Lab 1", sent_at=clock.now())
    assert not left.deleted


# --- predefined mode -----------------------------------------------------------------------
async def test_group_create_in_predefined_mode_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED)
    async with unchanged(db, files):
        with pytest.raises(PredefinedGroupsError):
            await services.groups.create(
                GUILD, student(1), "Lab 1", "1234", sent_at=services.clock.now()
            )


async def test_group_join_in_predefined_mode_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED)
    added = await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(2), "Team A")
    async with unchanged(db, files):
        with pytest.raises(PredefinedGroupsError):
            await services.groups.join(
                GUILD, student(1), "Lab 1", added.group.pin, sent_at=services.clock.now()
            )
    assert await join_failures(db) == 0


async def test_group_leave_in_predefined_mode_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED)
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    async with unchanged(db, files):
        with pytest.raises(PredefinedGroupsError):
            await services.groups.leave(GUILD, student(1), "Lab 1", sent_at=services.clock.now())


async def test_group_password_in_predefined_mode_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED)
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    async with unchanged(db, files):
        with pytest.raises(NoPasswordModeError):
            await services.groups.regenerate_password(GUILD, student(1), "Lab 1")


async def test_predefined_member_sees_the_group_info(services: Services) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED)
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(2), "Team A")
    info = await services.groups.info(GUILD, student(1), "Lab 1")
    assert info.group.name == "Team A"
    assert len(info.members) == 2 and all(10_000 <= m.number <= 99_999 for m in info.members)


# --- guessing limit ------------------------------------------------------------------------
async def fail_joins(services: Services, clock: FakeClock, times: int, *, step: float = 60) -> None:
    for _ in range(times):
        with pytest.raises(GroupNotFoundError):
            await services.groups.join(GUILD, student(9), "Lab 1", "9999", sent_at=clock.now())
        clock.advance(step)


async def test_five_failed_joins_lock_out_even_the_right_pin(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+3h")
    await group_with(services, "1234", 1)
    await fail_joins(services, clock, 4)
    fifth = clock.now()
    await fail_joins(services, clock, 1)
    async with unchanged(db, files):
        with pytest.raises(TooManyAttemptsError) as caught:
            await services.groups.join(GUILD, student(9), "Lab 1", "1234", sent_at=clock.now())
    assert caught.value.params["until"] == fifth + timedelta(minutes=10)


async def test_lockout_lasts_until_ten_minutes_after_the_fifth_failure(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+3h")
    await group_with(services, "1234", 1)
    await fail_joins(services, clock, 4)
    fifth = clock.now()
    await fail_joins(services, clock, 1, step=0)
    clock.set(fifth + timedelta(minutes=10) - timedelta(seconds=1))
    with pytest.raises(TooManyAttemptsError):
        await services.groups.join(GUILD, student(9), "Lab 1", "1234", sent_at=clock.now())
    clock.set(fifth + timedelta(minutes=10))
    view = await services.groups.join(GUILD, student(9), "Lab 1", "1234", sent_at=clock.now())
    assert len(view.members) == 2


async def test_refused_attempts_during_lockout_do_not_extend_it(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+3h")
    await group_with(services, "1234", 1)
    await fail_joins(services, clock, 4)
    fifth = clock.now()
    await fail_joins(services, clock, 1, step=0)
    for _ in range(5):
        clock.advance(60)
        with pytest.raises(TooManyAttemptsError):
            await services.groups.join(GUILD, student(9), "Lab 1", "9999", sent_at=clock.now())
    clock.set(fifth + timedelta(minutes=10))
    view = await services.groups.join(GUILD, student(9), "Lab 1", "1234", sent_at=clock.now())
    assert student(9).user_id in {m.user_id for m in view.members}


async def test_four_failed_joins_do_not_lock_out(services: Services, clock: FakeClock) -> None:
    await make_assignment(services)
    await group_with(services, "1234", 1)
    await fail_joins(services, clock, 4)
    view = await services.groups.join(GUILD, student(9), "Lab 1", "1234", sent_at=clock.now())
    assert student(9).user_id in {m.user_id for m in view.members}


async def test_failures_spread_over_more_than_ten_minutes_do_not_lock_out(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, closes="+3h")
    await group_with(services, "1234", 1)
    await fail_joins(services, clock, 5, step=180)
    view = await services.groups.join(GUILD, student(9), "Lab 1", "1234", sent_at=clock.now())
    assert student(9).user_id in {m.user_id for m in view.members}


async def test_five_wrong_passwords_lock_out(services: Services, clock: FakeClock) -> None:
    await make_assignment(services, mode=GroupMode.PASSWORD)
    created = await services.groups.create(GUILD, student(1), "Lab 1", "1234", sent_at=clock.now())
    for _ in range(5):
        with pytest.raises(WrongPasswordError):
            await services.groups.join(
                GUILD, student(9), "Lab 1", "1234", "wrong", sent_at=clock.now()
            )
    with pytest.raises(TooManyAttemptsError):
        await services.groups.join(
            GUILD, student(9), "Lab 1", "1234", created.password, sent_at=clock.now()
        )


async def test_malformed_pins_and_full_groups_do_not_count_towards_the_limit(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services, max_group_size=1)
    await group_with(services, "1234", 1)
    for _ in range(5):
        with pytest.raises(PinFormatError):
            await services.groups.join(GUILD, student(9), "Lab 1", "12", sent_at=clock.now())
        with pytest.raises(GroupFullError):
            await services.groups.join(GUILD, student(9), "Lab 1", "1234", sent_at=clock.now())
    await services.groups.create(GUILD, student(9), "Lab 1", "4321", sent_at=clock.now())


async def test_lockout_of_one_user_does_not_affect_another(
    services: Services, clock: FakeClock
) -> None:
    await make_assignment(services)
    await group_with(services, "1234", 1)
    await fail_joins(services, clock, 5, step=0)
    view = await services.groups.join(GUILD, student(2), "Lab 1", "1234", sent_at=clock.now())
    assert len(view.members) == 2
