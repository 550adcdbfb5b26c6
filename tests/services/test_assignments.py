"""Staff use cases for assignments: create, edit, staff rights, overview."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.errors import (
    AnonymityLockedError,
    AssignmentNameInvalidError,
    AssignmentNameTakenError,
    AssignmentNotFoundError,
    ClosedDeadlineEditError,
    ClosesBeforeOpensError,
    DeadlineInPastError,
    FileTypesInvalidError,
    GroupModeLockedError,
    GroupSizeBelowCurrentError,
    LateBeforeCloseError,
    ManageServerOnlyError,
    MaxFileSizeError,
    MaxGroupSizeError,
    RemindersInvalidError,
    StaffOnlyError,
    TimeFormatError,
)
from bot.domain.models import Actor, AssignmentState, GroupMode, Person
from bot.services.assignments import AssignmentOptions
from bot.services.groups import CsvSource
from bot.services.registry import Services
from storage.db import Database, fetch_all
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import GUILD, LIMIT, STAFF, START, incoming, make_assignment, student
from tests.snapshot import unchanged

MIB = 1024 * 1024


async def create(services: Services, name: str = "Lab 1", **options: Any) -> Any:
    return await services.assignments.create(
        GUILD,
        STAFF,
        name,
        AssignmentOptions(**options),
        sent_at=services.clock.now(),
        upload_limit_bytes=LIMIT,
    )


async def edit(services: Services, name: str = "Lab 1", **options: Any) -> Any:
    return await services.assignments.edit(
        GUILD,
        STAFF,
        name,
        AssignmentOptions(**options),
        sent_at=services.clock.now(),
        upload_limit_bytes=LIMIT,
    )


async def assignment_count(db: Database) -> int:
    return len(await fetch_all(db.conn, "SELECT id FROM assignments"))


# --- create --------------------------------------------------------------------------------
async def test_create_applies_the_defaults(services: Services) -> None:
    created = await create(services, closes="+2h")
    assert created.opens_at == START
    assert created.closes_at == START + timedelta(hours=2)
    assert created.group_mode is GroupMode.OPEN
    assert created.auto_submit and not created.submit_once
    assert created.max_group_size is None and created.max_file_mb == 10
    assert created.file_types == () and created.anonymous and not created.single_editor
    assert created.reminders == (86400, 3600)
    assert created.state(START) is AssignmentState.OPEN


async def test_create_stores_aware_utc_times(services: Services) -> None:
    created = await create(services, closes="2026-12-01T10:00:00+01:00")
    assert created.closes_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert created.closes_at.tzinfo is not None and created.closes_at.utcoffset() == timedelta(0)


async def test_create_reads_local_times_in_the_guild_zone(services: Services) -> None:
    await services.settings.update(GUILD, STAFF, timezone="Europe/Oslo")
    created = await create(services, closes="2027-06-01 10:00", opens="2027-01-10 08:00")
    assert created.closes_at == datetime(2027, 6, 1, 8, 0, tzinfo=UTC)
    assert created.opens_at == datetime(2027, 1, 10, 7, 0, tzinfo=UTC)


async def test_create_with_taken_name_differing_in_case_is_refused(
    services: Services, db: Database
) -> None:
    await create(services, closes="+2h")
    with pytest.raises(AssignmentNameTakenError):
        await create(services, "  LAB   1 ", closes="+2h")
    assert await assignment_count(db) == 1


async def test_same_name_in_another_guild_is_allowed(services: Services) -> None:
    await create(services, closes="+2h")
    other = await services.assignments.create(
        GUILD + 1,
        STAFF,
        "Lab 1",
        AssignmentOptions(closes="+2h"),
        sent_at=services.clock.now(),
        upload_limit_bytes=LIMIT,
    )
    assert other.guild_id == GUILD + 1


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"closes": "next friday"}, TimeFormatError),
        ({"closes": "+2h", "opens": "garbage"}, TimeFormatError),
        ({"closes": "+2h", "late_until": "later"}, TimeFormatError),
        ({"closes": "+1h", "opens": "+2h"}, ClosesBeforeOpensError),
        ({"closes": "+1h", "opens": "+1h"}, ClosesBeforeOpensError),
        ({"closes": "2020-01-01 10:00", "opens": "2019-01-01 10:00"}, DeadlineInPastError),
        ({"closes": "+2h", "late_until": "+1h"}, LateBeforeCloseError),
        ({"closes": "+2h", "max_group_size": 0}, MaxGroupSizeError),
        ({"closes": "+2h", "max_group_size": -3}, MaxGroupSizeError),
        ({"closes": "+2h", "max_file_mb": 0}, MaxFileSizeError),
        ({"closes": "+2h", "max_file_mb": 10.5}, MaxFileSizeError),
        ({"closes": "+2h", "file_types": "pdf;zip"}, FileTypesInvalidError),
        ({"closes": "+2h", "reminders": "sometimes"}, RemindersInvalidError),
    ],
    ids=[
        "malformed_closes",
        "malformed_opens",
        "malformed_late_until",
        "closes_before_opens",
        "closes_equal_opens",
        "deadline_in_past",
        "late_until_before_closes",
        "max_group_size_zero",
        "max_group_size_negative",
        "max_file_mb_zero",
        "max_file_mb_above_discord_limit",
        "malformed_file_types",
        "malformed_reminders",
    ],
)
async def test_create_with_bad_option_is_refused(
    services: Services,
    db: Database,
    files: FileStore,
    options: dict[str, Any],
    error: type[Exception],
) -> None:
    async with unchanged(db, files):
        with pytest.raises(error):
            await create(services, **options)
    assert await assignment_count(db) == 0


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
async def test_create_with_invalid_name_is_refused(services: Services, name: str) -> None:
    with pytest.raises(AssignmentNameInvalidError):
        await create(services, name, closes="+2h")


async def test_max_file_mb_accepts_decimals_up_to_the_discord_limit(services: Services) -> None:
    created = await create(services, closes="+2h", max_file_mb=2.5)
    assert created.max_file_bytes == int(2.5 * MIB)
    created = await create(services, "Lab 2", closes="+2h", max_file_mb=10)
    assert created.max_file_bytes == 10 * MIB


# --- edit ----------------------------------------------------------------------------------
async def test_edit_changes_only_the_given_options(services: Services) -> None:
    await create(services, closes="+2h", file_types="pdf")
    edited = await edit(services, max_file_mb=5)
    assert edited.max_file_mb == 5 and edited.file_types == ("pdf",)
    assert edited.closes_at == START + timedelta(hours=2)


async def test_edit_moves_the_deadline_of_an_open_assignment(services: Services) -> None:
    await create(services, closes="+2h")
    edited = await edit(services, closes="+5h")
    assert edited.closes_at == START + timedelta(hours=5)


async def test_edit_renames(services: Services) -> None:
    await create(services, closes="+2h")
    edited = await edit(services, new_name="Lab One")
    assert edited.name == "Lab One"
    assert (await services.assignments.get(GUILD, "lab one")).id == edited.id


async def test_edit_rename_to_a_taken_name_is_refused(services: Services) -> None:
    await create(services, closes="+2h")
    await create(services, "Lab 2", closes="+2h")
    with pytest.raises(AssignmentNameTakenError):
        await edit(services, "Lab 2", new_name="LAB 1")


async def test_edit_of_group_mode_once_groups_exist_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await create(services, closes="+2h")
    await services.groups.create(GUILD, student(1), "Lab 1", None, sent_at=services.clock.now())
    async with unchanged(db, files):
        with pytest.raises(GroupModeLockedError):
            await edit(services, mode=GroupMode.PASSWORD)
    assert (await services.assignments.get(GUILD, "Lab 1")).group_mode is GroupMode.OPEN


async def test_edit_of_group_mode_before_groups_exist_is_allowed(services: Services) -> None:
    await create(services, closes="+2h")
    edited = await edit(services, mode=GroupMode.PREDEFINED)
    assert edited.group_mode is GroupMode.PREDEFINED


async def test_edit_of_max_group_size_below_a_current_group_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await create(services, closes="+2h")
    now = services.clock.now()
    await services.groups.create(GUILD, student(1), "Lab 1", "1234", sent_at=now)
    for n in (2, 3):
        await services.groups.join(GUILD, student(n), "Lab 1", "1234", sent_at=now)
    async with unchanged(db, files):
        with pytest.raises(GroupSizeBelowCurrentError):
            await edit(services, max_group_size=2)
    assert (await edit(services, max_group_size=3)).max_group_size == 3


async def test_edit_of_anonymous_after_export_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    created = await create(services, closes="+2h")
    await services.assignments.mark_exported(created.id)
    async with unchanged(db, files):
        with pytest.raises(AnonymityLockedError):
            await edit(services, anonymous=False)
    assert (await services.assignments.get(GUILD, "Lab 1")).anonymous


async def test_edit_of_anonymous_before_export_is_allowed(services: Services) -> None:
    await create(services, closes="+2h")
    assert not (await edit(services, anonymous=False)).anonymous


async def test_edit_moving_the_deadline_of_a_closed_assignment_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await create(services, closes="+1h")
    clock.advance(3600)
    async with unchanged(db, files):
        with pytest.raises(ClosedDeadlineEditError):
            await edit(services, closes="+1h")
        with pytest.raises(ClosedDeadlineEditError):
            await edit(services, late_until="+1h")


async def test_edit_of_other_settings_of_a_closed_assignment_is_allowed(
    services: Services, clock: FakeClock
) -> None:
    await create(services, closes="+1h")
    clock.advance(3600)
    assert (await edit(services, reminders="off")).reminders == ()


async def test_edit_moving_the_deadline_into_the_past_is_refused(services: Services) -> None:
    await create(services, closes="+2h", opens="2026-11-01 10:00")
    with pytest.raises(DeadlineInPastError):
        await edit(services, closes="2026-11-20 10:00")


async def test_edit_with_closes_before_opens_is_refused(services: Services) -> None:
    await create(services, closes="+2h")
    with pytest.raises(ClosesBeforeOpensError):
        await edit(services, opens="+3h")


async def test_edit_with_max_group_size_below_one_is_refused(services: Services) -> None:
    await create(services, closes="+2h")
    with pytest.raises(MaxGroupSizeError):
        await edit(services, max_group_size=0)


async def test_edit_with_malformed_time_is_refused(services: Services) -> None:
    await create(services, closes="+2h")
    with pytest.raises(TimeFormatError):
        await edit(services, closes="the day after tomorrow")


# --- staff rights --------------------------------------------------------------------------
StaffCall = Callable[[Services, Actor], Awaitable[object]]


def _now(s: Services) -> datetime:
    return s.clock.now()


STAFF_CALLS: dict[str, StaffCall] = {
    "assignment_create": lambda s, a: s.assignments.create(
        GUILD,
        a,
        "Lab 9",
        AssignmentOptions(closes="+1h"),
        sent_at=_now(s),
        upload_limit_bytes=LIMIT,
    ),
    "assignment_edit": lambda s, a: s.assignments.edit(
        GUILD,
        a,
        "Lab 1",
        AssignmentOptions(closes="+5h"),
        sent_at=_now(s),
        upload_limit_bytes=LIMIT,
    ),
    "assignment_list": lambda s, a: s.assignments.list_for_staff(GUILD, a),
    "assignment_for_staff": lambda s, a: s.assignments.for_staff(GUILD, a, "Lab 1"),
    "assignment_overview": lambda s, a: s.assignments.overview(GUILD, a, "Lab 1"),
    "assignment_close": lambda s, a: s.assignments.close_now(GUILD, a, "Lab 1", sent_at=_now(s)),
    "assignment_reopen": lambda s, a: s.assignments.reopen(
        GUILD, a, "Lab 1", "+5h", sent_at=_now(s)
    ),
    "assignment_extend": lambda s, a: s.assignments.extend(
        GUILD, a, "Lab 1", "1234", "+5h", sent_at=_now(s)
    ),
    "groups_add": lambda s, a: s.groups.staff_add(
        GUILD, a, "Lab 1", Person(student(5).user_id, "s5"), "Team"
    ),
    "groups_remove": lambda s, a: s.groups.staff_remove(GUILD, a, "Lab 1", student(1).user_id),
    "groups_import": lambda s, a: s.groups.staff_import(
        GUILD, a, "Lab 1", CsvSource.of(b"Team,105\n"), [Person(student(5).user_id, "s5")]
    ),
    "groups_random": lambda s, a: s.groups.staff_random(GUILD, a, "Lab 1", 2, []),
    "groups_list": lambda s, a: s.groups.staff_list(GUILD, a, "Lab 1"),
    "export": lambda s, a: s.exports.export(GUILD, a, "Lab 1", Path(s.files.root) / "out"),
}


@pytest.fixture
async def busy_assignment(services: Services) -> None:
    """An assignment with a group, an upload and a registered candidate with no group."""
    await make_assignment(services, closes="+2h")
    now = services.clock.now()
    await services.groups.create(GUILD, student(1), "Lab 1", "1234", sent_at=now)
    await services.submissions.upload(GUILD, student(1), "Lab 1", incoming(b"work"), sent_at=now)
    await services.groups.ready(GUILD, student(2), "Lab 1")


@pytest.mark.usefixtures("busy_assignment")
@pytest.mark.parametrize("command", sorted(STAFF_CALLS))
async def test_staff_command_by_a_student_is_refused(
    services: Services, db: Database, files: FileStore, command: str
) -> None:
    async with unchanged(db, files):
        with pytest.raises(StaffOnlyError):
            await STAFF_CALLS[command](services, student(1))
    assert (await services.assignments.get(GUILD, "Lab 1")).closes_at == START + timedelta(hours=2)


@pytest.mark.usefixtures("busy_assignment")
async def test_staff_command_by_the_configured_staff_role_is_allowed(services: Services) -> None:
    await services.settings.update(GUILD, STAFF, staff_role_id=4242)
    ta = Actor(user_id=77, display_name="TA", role_ids=frozenset({4242}))
    listed = await services.assignments.list_for_staff(GUILD, ta)
    assert [a.name for a, _ in listed] == ["Lab 1"]


@pytest.mark.usefixtures("busy_assignment")
async def test_settings_by_a_student_are_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    async with unchanged(db, files):
        with pytest.raises(ManageServerOnlyError):
            await services.settings.update(GUILD, student(1), staff_role_id=1)
    assert (await services.settings.get(GUILD)).staff_role_id is None


async def test_settings_by_the_staff_role_without_manage_server_are_refused(
    services: Services,
) -> None:
    await services.settings.update(GUILD, STAFF, staff_role_id=4242)
    ta = Actor(user_id=77, role_ids=frozenset({4242}))
    with pytest.raises(ManageServerOnlyError):
        await services.settings.update(GUILD, ta, staff_role_id=99)


# --- overview ------------------------------------------------------------------------------
async def test_overview_counts_candidates_groups_and_candidates_without_group(
    services: Services,
) -> None:
    await make_assignment(services, closes="+2h")
    now = services.clock.now()
    await services.groups.create(GUILD, student(1), "Lab 1", "1234", sent_at=now)
    await services.groups.join(GUILD, student(2), "Lab 1", "1234", sent_at=now)
    await services.submissions.upload(GUILD, student(1), "Lab 1", incoming(b"a"), sent_at=now)
    await services.groups.ready(GUILD, student(3), "Lab 1")
    overview = await services.assignments.overview(GUILD, STAFF, "Lab 1")
    assert len(overview.candidates) == 3
    assert [g.group.pin for g in overview.groups] == ["1234"]
    assert [c.user_id for c in overview.without_group] == [student(3).user_id]
    assert overview.uploads == 1 and overview.handins == 0 and overview.submissions == 0


async def test_overview_lists_role_members_who_never_acted_as_without_group(
    services: Services,
) -> None:
    await make_assignment(services, closes="+2h", role_id=77)
    people = [Person(student(n).user_id, f"s{n}", role_ids=frozenset({77})) for n in (1, 2)]
    people.append(Person(student(3).user_id, "s3"))
    overview = await services.assignments.overview(GUILD, STAFF, "Lab 1", people)
    assert {c.user_id for c in overview.without_group} == {student(1).user_id, student(2).user_id}
    assert all(10_000 <= c.number <= 99_999 for c in overview.candidates)


async def test_relative_times_count_from_when_the_command_was_sent(
    services: Services, clock: FakeClock
) -> None:
    sent = clock.now()
    clock.advance(90)  # the command waited in a queue
    created = await services.assignments.create(
        GUILD,
        STAFF,
        "Lab 1",
        AssignmentOptions(closes="in 90 minutes", late_until="+2h"),
        sent_at=sent,
        upload_limit_bytes=LIMIT,
    )
    assert created.closes_at == sent + timedelta(minutes=90)
    assert created.late_until == sent + timedelta(hours=2)


async def test_staff_commands_need_the_exact_name_where_students_may_abbreviate(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, "Lab 1 (report)")
    # A student's `lab 1` reaches the only match...
    ready = await services.groups.ready(GUILD, student(1), "lab 1")
    assert ready.assignment.name == "Lab 1 (report)"
    # ...but closing (or exporting) the wrong assignment is not a convenience.
    async with unchanged(db, files):
        with pytest.raises(AssignmentNotFoundError):
            await services.assignments.close_now(
                GUILD, STAFF, "lab 1", sent_at=services.clock.now()
            )
    closed, _ = await services.assignments.close_now(
        GUILD, STAFF, "LAB 1 (REPORT)", sent_at=services.clock.now()
    )
    assert closed.closed_at is not None
