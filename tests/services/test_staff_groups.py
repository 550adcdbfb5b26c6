"""Predefined groups: staff add, remove, CSV import and random split."""

from __future__ import annotations

import pytest

from bot.domain.errors import (
    AlreadyInThisGroupError,
    CsvImportError,
    CsvTooLargeError,
    GroupFullError,
    GroupSizeInvalidError,
    MemberNotInGroupError,
    MembershipLockedError,
    NoCandidatesToSplitError,
    NotAssignedError,
    NotPredefinedError,
    StaffOnlyError,
)
from bot.domain.models import GroupMode, Person
from bot.services.groups import CsvSource, ImportResult
from bot.services.registry import Services
from storage.db import Database, fetch_all
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import GUILD, STAFF, incoming, make_assignment, student
from tests.snapshot import unchanged


def person(n: int, *roles: int, nick: str | None = None) -> Person:
    return Person(
        user_id=student(n).user_id, username=f"student{n}", nick=nick, role_ids=frozenset(roles)
    )


PEOPLE = [person(n) for n in range(1, 13)]


async def memberships(db: Database) -> dict[str, set[int]]:
    rows = await fetch_all(
        db.conn,
        "SELECT g.name, m.user_id FROM memberships m JOIN groups g ON g.id = m.group_id",
    )
    result: dict[str, set[int]] = {}
    for row in rows:
        result.setdefault(row["name"], set()).add(row["user_id"])
    return result


@pytest.fixture
async def predefined(services: Services) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED)


# --- add / remove --------------------------------------------------------------------------
@pytest.mark.usefixtures("predefined")
async def test_staff_add_creates_a_named_group_with_a_pin(services: Services) -> None:
    view = await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    assert view.group.name == "Team A" and view.group.label == "Team A"
    assert len(view.group.pin) == 4 and view.group.pin.isdigit()
    assert [m.user_id for m in view.members] == [student(1).user_id]


@pytest.mark.usefixtures("predefined")
async def test_every_predefined_group_gets_its_own_pin(services: Services) -> None:
    pins = set()
    for n in range(1, 11):
        view = await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(n), f"Team {n}")
        pins.add(view.group.pin)
    assert len(pins) == 10


@pytest.mark.usefixtures("predefined")
async def test_staff_add_to_an_existing_group_name_ignores_case(services: Services) -> None:
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    view = await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(2), "team a")
    assert view.group.name == "Team A" and len(view.members) == 2


@pytest.mark.usefixtures("predefined")
async def test_staff_add_moves_a_member_from_another_group(
    services: Services, db: Database
) -> None:
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team B")
    assert await memberships(db) == {"Team B": {student(1).user_id}}


@pytest.mark.usefixtures("predefined")
async def test_staff_add_to_the_same_group_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    async with unchanged(db, files):
        with pytest.raises(AlreadyInThisGroupError):
            await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "team a")


async def test_staff_add_beyond_max_group_size_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED, max_group_size=1)
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    async with unchanged(db, files):
        with pytest.raises(GroupFullError):
            await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(2), "Team A")


async def test_staff_add_in_open_mode_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    async with unchanged(db, files):
        with pytest.raises(NotPredefinedError):
            await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")


@pytest.mark.usefixtures("predefined")
async def test_staff_remove_takes_the_member_out(services: Services, db: Database) -> None:
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(2), "Team A")
    await services.groups.staff_remove(GUILD, STAFF, "Lab 1", student(1).user_id)
    assert await memberships(db) == {"Team A": {student(2).user_id}}


@pytest.mark.usefixtures("predefined")
async def test_staff_remove_of_a_member_without_group_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    async with unchanged(db, files):
        with pytest.raises(MemberNotInGroupError):
            await services.groups.staff_remove(GUILD, STAFF, "Lab 1", student(1).user_id)


async def test_staff_add_after_the_deadline_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED, closes="+1h")
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    clock.advance(3600)
    async with unchanged(db, files):
        with pytest.raises(MembershipLockedError):
            await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(2), "Team A")
        with pytest.raises(MembershipLockedError):
            await services.groups.staff_remove(GUILD, STAFF, "Lab 1", student(1).user_id)


@pytest.mark.usefixtures("predefined")
async def test_unassigned_candidate_cannot_upload_and_is_told_to_contact_staff(
    services: Services, db: Database, files: FileStore
) -> None:
    async with unchanged(db, files):
        with pytest.raises(NotAssignedError):
            await services.submissions.upload(
                GUILD, student(1), "Lab 1", incoming(b"x"), sent_at=services.clock.now()
            )


@pytest.mark.usefixtures("predefined")
async def test_predefined_member_uploads_for_the_group(services: Services) -> None:
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    result = await services.submissions.upload(
        GUILD, student(1), "Lab 1", incoming(b"x"), sent_at=services.clock.now()
    )
    assert result.view.group.name == "Team A"


# --- CSV import ----------------------------------------------------------------------------
async def import_csv(
    services: Services, text: bytes, people: list[Person] = PEOPLE
) -> ImportResult:
    return await services.groups.staff_import(GUILD, STAFF, "Lab 1", CsvSource.of(text), people)


def lines_of(error: CsvImportError) -> list[tuple[int, str]]:
    return [(line, key) for line, key, _ in error.problems]


@pytest.mark.usefixtures("predefined")
async def test_csv_import_creates_groups_with_members(services: Services, db: Database) -> None:
    data = b"group_name,member\nTeam A,student1\nTeam A,102\nTeam B,@student3\n"
    result = await import_csv(services, data)
    assert await memberships(db) == {
        "Team A": {student(1).user_id, student(2).user_id},
        "Team B": {student(3).user_id},
    }
    assert result == ImportResult(groups_created=2, members_placed=3, unchanged=0)


@pytest.mark.usefixtures("predefined")
async def test_csv_import_gives_every_group_a_pin(services: Services, db: Database) -> None:
    await import_csv(services, b"Team A,student1\nTeam B,student2\n")
    rows = await fetch_all(db.conn, "SELECT pin FROM groups")
    assert len({row["pin"] for row in rows}) == 2


@pytest.mark.usefixtures("predefined")
async def test_csv_import_with_unknown_member_is_refused_with_its_line(
    services: Services, db: Database, files: FileStore
) -> None:
    data = b"group_name,member\nTeam A,student1\nTeam A,nobody\n"
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, data)
    assert lines_of(caught.value) == [(3, "csv.member_unknown")]


@pytest.mark.usefixtures("predefined")
async def test_csv_import_with_ambiguous_member_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    people = [*PEOPLE, person(50, nick="student1")]
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, b"Team A,student1\n", people)
    assert lines_of(caught.value) == [(1, "csv.member_ambiguous")]


@pytest.mark.usefixtures("predefined")
async def test_csv_import_with_duplicate_row_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    data = b"group_name,member\nTeam A,student1\nTeam A,student2\nTeam A,101\n"
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, data)
    assert lines_of(caught.value) == [(4, "csv.duplicate")]
    assert caught.value.problems[0][2]["line"] == 2


@pytest.mark.usefixtures("predefined")
async def test_csv_import_with_a_member_in_two_groups_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    data = b"group_name,member\nTeam A,student1\nTeam B,student1\n"
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, data)
    assert lines_of(caught.value) == [(3, "csv.two_groups")]


@pytest.mark.usefixtures("predefined")
async def test_csv_import_of_a_member_already_in_another_group_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, b"Team B,student1\n")
    assert lines_of(caught.value) == [(1, "csv.already_grouped")]


@pytest.mark.usefixtures("predefined")
async def test_csv_import_with_bad_encoding_is_refused_with_its_line(
    services: Services, db: Database, files: FileStore
) -> None:
    data = b"group_name,member\nTeam A,student1\nTeam \xff,student2\n"
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, data)
    assert lines_of(caught.value) == [(3, "csv.bad_encoding")]


@pytest.mark.usefixtures("predefined")
async def test_csv_import_is_all_or_nothing(
    services: Services, db: Database, files: FileStore
) -> None:
    good = b"".join(b"Team %d,student%d\n" % (n, n) for n in range(1, 10))
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, b"group_name,member\n" + good + b"Team 9,ghost\n")
    assert lines_of(caught.value) == [(11, "csv.member_unknown")]


@pytest.mark.usefixtures("predefined")
async def test_csv_import_lists_every_problem_by_physical_line(
    services: Services, db: Database, files: FileStore
) -> None:
    data = b'group_name,member\nTeam A,ghost\n\n"Team B\nC",student2\nbroken\nTeam A,student2\n'
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, data)
    assert lines_of(caught.value) == [
        (2, "csv.member_unknown"),
        (6, "csv.malformed"),
        (7, "csv.two_groups"),
    ]


@pytest.mark.usefixtures("predefined")
async def test_a_long_malformed_line_is_quoted_with_its_cut_marked(
    services: Services, db: Database, files: FileStore
) -> None:
    long_line = "x" * 300
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, f"Team A,student1\n{long_line}\n".encode())
    [(line, key, params)] = caught.value.problems
    assert (line, key) == (2, "csv.malformed")
    quoted = str(params["text"])
    assert quoted.endswith("…") and long_line.startswith(quoted[:-1]) and len(quoted) == 80


async def test_csv_import_beyond_max_group_size_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED, max_group_size=2)
    data = b"Team A,student1\nTeam A,student2\nTeam A,student3\n"
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, data)
    assert lines_of(caught.value) == [(3, "csv.group_too_large")]


async def test_csv_import_counts_the_members_a_group_already_has(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED, max_group_size=2)
    await import_csv(services, b"Team A,student1\nTeam A,student2\n")
    # Student 1 stays (no seat needed), student 3 would be the third member.
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as caught:
            await import_csv(services, b"Team A,student1\nTeam A,student3\n")
    assert lines_of(caught.value) == [(2, "csv.group_too_large")]


@pytest.mark.usefixtures("predefined")
async def test_csv_import_of_an_empty_file_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    async with unchanged(db, files):
        with pytest.raises(CsvImportError):
            await import_csv(services, b"group_name,member\n")


@pytest.mark.usefixtures("predefined")
async def test_csv_import_again_leaves_existing_members_unchanged(services: Services) -> None:
    data = b"Team A,student1\nTeam A,student2\n"
    await import_csv(services, data)
    result = await import_csv(services, data)
    assert result == ImportResult(groups_created=0, members_placed=0, unchanged=2)


# --- random split --------------------------------------------------------------------------
@pytest.mark.usefixtures("predefined")
async def test_random_split_makes_groups_of_size_or_size_plus_one(
    services: Services, db: Database
) -> None:
    for n in range(1, 11):
        await services.groups.ready(GUILD, student(n), "Lab 1")
    views = await services.groups.staff_random(GUILD, STAFF, "Lab 1", 3, [])
    assert sorted(len(v.members) for v in views) == [3, 3, 4]
    assert sum(len(v) for v in (await memberships(db)).values()) == 10


async def test_random_split_places_role_members(services: Services, db: Database) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED, role_id=77)
    people = [person(n, 77) for n in range(1, 8)] + [person(n) for n in range(8, 12)]
    views = await services.groups.staff_random(GUILD, STAFF, "Lab 1", 2, people)
    placed = {m.user_id for v in views for m in v.members}
    assert placed == {student(n).user_id for n in range(1, 8)}
    assert sorted(len(v.members) for v in views) == [2, 2, 3]


@pytest.mark.usefixtures("predefined")
async def test_random_split_keeps_existing_groups(services: Services, db: Database) -> None:
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Group 1")
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(2), "Team X")
    for n in range(3, 9):
        await services.groups.ready(GUILD, student(n), "Lab 1")
    views = await services.groups.staff_random(GUILD, STAFF, "Lab 1", 3, [])
    groups = await memberships(db)
    assert groups["Group 1"] == {student(1).user_id}
    assert groups["Team X"] == {student(2).user_id}
    assert sorted(len(v.members) for v in views) == [3, 3]
    assert "Group 1" not in {v.group.name for v in views}


@pytest.mark.usefixtures("predefined")
async def test_random_split_keeps_an_existing_group_whose_name_differs_in_case(
    services: Services, db: Database
) -> None:
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "group 1")
    for n in range(2, 6):
        await services.groups.ready(GUILD, student(n), "Lab 1")
    views = await services.groups.staff_random(GUILD, STAFF, "Lab 1", 2, [])
    groups = await memberships(db)
    assert groups["group 1"] == {student(1).user_id}
    assert sorted(len(v.members) for v in views) == [2, 2]


@pytest.mark.usefixtures("predefined")
async def test_random_split_with_nobody_left_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await services.groups.staff_add(GUILD, STAFF, "Lab 1", person(1), "Team A")
    async with unchanged(db, files):
        with pytest.raises(NoCandidatesToSplitError):
            await services.groups.staff_random(GUILD, STAFF, "Lab 1", 2, [])


@pytest.mark.usefixtures("predefined")
async def test_random_split_of_size_below_one_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await services.groups.ready(GUILD, student(1), "Lab 1")
    async with unchanged(db, files):
        with pytest.raises(GroupSizeInvalidError):
            await services.groups.staff_random(GUILD, STAFF, "Lab 1", 0, [])


async def test_random_split_never_exceeds_max_group_size(services: Services) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED, max_group_size=3)
    for n in range(1, 8):
        await services.groups.ready(GUILD, student(n), "Lab 1")
    views = await services.groups.staff_random(GUILD, STAFF, "Lab 1", 3, [])
    assert sorted(len(v.members) for v in views) == [2, 2, 3]


async def test_csv_over_the_size_limit_is_refused_without_reading_it(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, mode=GroupMode.PREDEFINED)

    async def never() -> bytes:
        raise AssertionError("a refused file must not be read")

    async with unchanged(db, files):
        with pytest.raises(CsvTooLargeError):
            await services.groups.staff_import(
                GUILD, STAFF, "Lab 1", CsvSource(2 * 1024 * 1024, never), PEOPLE
            )
        with pytest.raises(StaffOnlyError):
            await services.groups.staff_import(
                GUILD, student(1), "Lab 1", CsvSource(10, never), PEOPLE
            )
