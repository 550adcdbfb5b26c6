"""/groups add, remove, import, random, list at the callback level."""

from __future__ import annotations

from types import SimpleNamespace

from bot.domain.errors import (
    CsvImportError,
    GroupNotFoundError,
    MemberNotInGroupError,
    NoCandidatesToSplitError,
    NotPredefinedError,
    StaffOnlyError,
)
from bot.domain.models import GroupMode
from bot.i18n import t
from bot.tree import report
from cogs._common import person_of
from cogs._paging import Pager
from cogs.staff_groups import StaffGroupsCog
from storage.repos import groups as group_repo
from tests.cogs.conftest import Cdn, World, call, complete, refused
from tests.conftest import GUILD, STAFF, make_assignment, student
from tests.snapshot import unchanged

Cog = StaffGroupsCog


async def _groups(world: World) -> dict[str, list[int]]:
    """Predefined groups of `Lab 1` by name, with their member ids."""
    assignment = await world.services.assignments.get(GUILD, "Lab 1")
    async with world.services.db.reading() as conn:
        return {
            g.label: sorted(m.user_id for m in await group_repo.members(conn, g.id))
            for g in await group_repo.groups(conn, assignment.id)
        }


async def _predefined(world: World) -> None:
    await make_assignment(world.services, mode=GroupMode.PREDEFINED)


# --- add -----------------------------------------------------------------------------------
async def test_add_puts_a_member_in_a_new_named_group(world: World, staff_groups_cog: Cog) -> None:
    await _predefined(world)
    alice = world.student(1)
    interaction = world.interaction(world.staff())

    await call(staff_groups_cog.add, staff_groups_cog, interaction, "Lab 1", alice, "Team A")

    assert await _groups(world) == {"Team A": [101]}
    reply = world.answer(interaction)
    assert "<@101>" in (reply.content or "") and "Team A" in (reply.content or "")


async def test_add_in_open_mode_is_refused(world: World, staff_groups_cog: Cog) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.staff())

    async with unchanged(world.services.db, world.services.files):
        await refused(
            call(
                staff_groups_cog.add,
                staff_groups_cog,
                interaction,
                "Lab 1",
                world.student(1),
                "Team A",
            ),
            NotPredefinedError,
        )


async def test_add_by_a_student_is_refused(world: World, staff_groups_cog: Cog) -> None:
    await _predefined(world)
    interaction = world.interaction(world.student(2))

    await refused(
        call(
            staff_groups_cog.add, staff_groups_cog, interaction, "Lab 1", world.student(1), "Team A"
        ),
        StaffOnlyError,
    )
    assert await _groups(world) == {}


# --- remove --------------------------------------------------------------------------------
async def test_remove_takes_a_member_out(world: World, staff_groups_cog: Cog) -> None:
    await _predefined(world)
    alice, bob = world.student(1), world.student(2)
    for member in (alice, bob):
        await call(
            staff_groups_cog.add,
            staff_groups_cog,
            world.interaction(world.staff()),
            "Lab 1",
            member,
            "Team A",
        )
    interaction = world.interaction(world.staff())

    await call(staff_groups_cog.remove, staff_groups_cog, interaction, "Lab 1", alice)

    assert await _groups(world) == {"Team A": [102]}
    assert "Team A" in (world.answer(interaction).content or "")


async def test_remove_of_a_member_without_a_group_is_refused(
    world: World, staff_groups_cog: Cog
) -> None:
    await _predefined(world)
    interaction = world.interaction(world.staff())

    await refused(
        call(staff_groups_cog.remove, staff_groups_cog, interaction, "Lab 1", world.student(1)),
        MemberNotInGroupError,
    )


# --- import --------------------------------------------------------------------------------
async def test_import_places_members_by_name_mention_and_id(
    world: World, staff_groups_cog: Cog, cdn: Cdn
) -> None:
    await _predefined(world)
    world.student(1)
    bob = world.member(222233334444555566, "bob")
    carol = world.member(333344445555666677, "carol")
    csv = f"group_name,member\nTeam A,student1\nTeam A,<@{bob.id}>\nTeam B,{carol.id}\n".encode()
    interaction = world.interaction(world.staff())

    await call(
        staff_groups_cog.import_,
        staff_groups_cog,
        interaction,
        "Lab 1",
        cdn.attachment("groups.csv", csv),
    )

    assert await _groups(world) == {"Team A": [101, bob.id], "Team B": [carol.id]}
    reply = world.answer(interaction)
    assert reply.content == "Imported: 2 new groups, 3 members placed, 0 already in place."


async def test_import_with_an_unknown_member_imports_nothing_and_cites_the_line(
    world: World, staff_groups_cog: Cog, cdn: Cdn
) -> None:
    await _predefined(world)
    world.student(1)
    csv = b"group_name,member\nTeam A,student1\nTeam A,nobody\n"
    interaction = world.interaction(world.staff())

    async with unchanged(world.services.db, world.services.files):
        error = await refused(
            call(
                staff_groups_cog.import_,
                staff_groups_cog,
                interaction,
                "Lab 1",
                cdn.attachment("groups.csv", csv),
            ),
            CsvImportError,
        )
    await report(interaction, error)

    reply = world.answer(interaction)
    assert reply.via == "followup"
    assert "line 3" in (reply.content or "") and "nobody" in (reply.content or "")


# --- random --------------------------------------------------------------------------------
async def test_random_splits_the_role_members_into_groups_of_about_size(
    world: World, staff_groups_cog: Cog
) -> None:
    await _predefined(world)
    for n in range(1, 6):
        world.student(n, 77)
    world.student(9)  # without the role
    interaction = world.interaction(world.staff())

    await call(staff_groups_cog.random, staff_groups_cog, interaction, "Lab 1", 2, world.role(77))

    groups = await _groups(world)
    assert sorted(len(m) for m in groups.values()) == [2, 3]
    assert sorted(u for m in groups.values() for u in m) == [101, 102, 103, 104, 105]
    assert world.answer(interaction).content == "Made 2 random groups with 5 members."


async def test_random_with_nobody_to_split_is_refused(world: World, staff_groups_cog: Cog) -> None:
    await _predefined(world)
    interaction = world.interaction(world.staff())

    await refused(
        call(staff_groups_cog.random, staff_groups_cog, interaction, "Lab 1", 2, None),
        NoCandidatesToSplitError,
    )
    assert await _groups(world) == {}


# --- list ----------------------------------------------------------------------------------
async def test_list_shows_groups_with_members_and_candidate_numbers(
    world: World, staff_groups_cog: Cog
) -> None:
    await _predefined(world)
    await call(
        staff_groups_cog.add,
        staff_groups_cog,
        world.interaction(world.staff()),
        "Lab 1",
        world.student(1),
        "Team A",
    )
    [view] = await world.services.groups.staff_list(GUILD, STAFF, "Lab 1")
    interaction = world.interaction(world.staff())

    await call(staff_groups_cog.list_, staff_groups_cog, interaction, "lab 1")

    reply = world.answer(interaction)
    assert reply.embed is not None
    assert "Lab 1" in (reply.embed.title or "")
    [field] = reply.embed.fields
    assert "Team A" in (field.name or "") and view.group.pin in (field.name or "")
    assert str(view.members[0].number) in (field.value or "")


async def test_list_by_a_student_is_refused(world: World, staff_groups_cog: Cog) -> None:
    await _predefined(world)
    interaction = world.interaction(world.student(1))

    await refused(
        call(staff_groups_cog.list_, staff_groups_cog, interaction, "Lab 1"), StaffOnlyError
    )


async def test_list_of_many_large_groups_stays_within_discords_embed_limits(
    world: World, staff_groups_cog: Cog
) -> None:
    await _predefined(world)
    for n in range(180):
        world.member(400_000_000_000_000_000 + n, f"member{n}", roles=[77])
    await world.services.groups.staff_random(
        GUILD, STAFF, "Lab 1", 6, [person_of(m) for m in world.members], 77
    )
    interaction = world.interaction(world.staff())

    await call(staff_groups_cog.list_, staff_groups_cog, interaction, "Lab 1")

    reply = world.answer(interaction)
    assert isinstance(reply.view, Pager)
    pages = reply.view.pages
    assert reply.embed is pages[0] and len(pages) > 1
    for page in pages:
        assert len(page) <= 6000 and len(page.fields) <= 25
        assert all(len(f.value or "") <= 1024 for f in page.fields)
    # Every group is on a page: nothing is cut off.
    shown = [f.name for page in pages for f in page.fields]
    views = await world.services.groups.staff_list(GUILD, STAFF, "Lab 1")
    assert len(views) == 30
    for view in views:
        assert t("en", "groups.list_group", label=view.group.label, pin=view.group.pin) in shown
    # And the whole list comes as a CSV file too.
    assert reply.file is not None and reply.file.filename == "groups-lab-1.csv"


# --- handin on a group's behalf --------------------------------------------------------------
async def _group_1234(world: World) -> None:
    await make_assignment(world.services)
    await world.services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=world.clock.now()
    )


async def test_handin_stores_the_attachment_for_the_group_and_says_so(
    world: World, staff_groups_cog: Cog, cdn: Cdn
) -> None:
    await _group_1234(world)
    interaction = world.interaction(world.staff())
    file = cdn.attachment("mailed.pdf", b"%PDF from the TA")

    await call(
        staff_groups_cog.handin,
        staff_groups_cog,
        interaction,
        "Lab 1",
        "1234",
        file,
        "upload failed on the train",
    )

    assert interaction.response.defer.await_count == 1
    reply = world.answer(interaction)
    assert "mailed.pdf" in (reply.content or "") and "1234" in (reply.content or "")
    assert reply.ephemeral and len(cdn.fetched) == 1


async def test_handin_for_an_unknown_pin_is_refused_before_downloading(
    world: World, staff_groups_cog: Cog, cdn: Cdn
) -> None:
    await _group_1234(world)
    interaction = world.interaction(world.staff())
    file = cdn.attachment("mailed.pdf", b"%PDF from the TA")

    async with unchanged(world.services.db, world.services.files):
        error = await refused(
            call(
                staff_groups_cog.handin, staff_groups_cog, interaction, "Lab 1", "9999", file, "x"
            ),
            GroupNotFoundError,
        )
    assert cdn.fetched == []
    await report(interaction, error)
    assert "9999" in (world.answer(interaction).content or "")


async def test_handin_part_autocompletes_the_assignments_parts(
    world: World, staff_groups_cog: Cog
) -> None:
    await make_assignment(world.services, parts="report:pdf; code:zip")
    interaction = world.interaction(world.staff())
    interaction.namespace = SimpleNamespace(assignment="Lab 1")

    choices = await complete(staff_groups_cog, "_part", interaction, "co")

    assert [c.value for c in choices] == ["code"]
