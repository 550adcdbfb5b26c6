"""/assignment create, edit, list, overview, close, reopen, extend, announce."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from unittest.mock import AsyncMock

import discord
import pytest

from bot.domain.errors import (
    AssignmentNotClosedError,
    ClosedDeadlineEditError,
    GroupModeLockedError,
    GroupNotFoundError,
    NotYourButtonError,
    StaffOnlyError,
    TimeFormatError,
)
from bot.domain.models import AssignmentState, GroupMode
from bot.i18n import t
from bot.tree import render_error, report
from cogs._buttons import Cancel, ConfirmClose, ConfirmReopen, HandinButton
from cogs.staff_assignments import StaffAssignmentsCog
from storage.repos import groups as group_repo
from storage.repos import uploads as upload_repo
from tests.cogs.conftest import CHANNEL_ID, World, call, complete, refused
from tests.conftest import GUILD, STAFF, incoming, make_assignment, student
from tests.snapshot import snapshot

Cog = StaffAssignmentsCog


async def _open_group_with_upload(world: World) -> None:
    await make_assignment(world.services)
    now = world.clock.now()
    await world.services.groups.create(GUILD, student(1), "Lab 1", "1234", sent_at=now)
    await world.services.submissions.upload(GUILD, student(1), "Lab 1", incoming(b"x"), sent_at=now)


# --- create --------------------------------------------------------------------------------
async def test_create_stores_the_options_and_answers_with_a_summary(
    world: World, staff_assignments_cog: Cog
) -> None:
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await call(
        cog.create,
        cog,
        interaction,
        "Lab 1",
        "+2h",
        mode="password",
        max_group_size=3,
        file_types="pdf,.ZIP",
        reminders="1h",
        role=world.role(77),
        channel=world.channel,
    )

    created = await world.services.assignments.get(GUILD, "lab 1")
    assert created.closes_at == world.clock.now() + timedelta(hours=2)
    assert created.group_mode is GroupMode.PASSWORD
    assert created.max_group_size == 3
    assert set(created.file_types) == {"pdf", "zip"}
    assert created.role_id == 77 and created.channel_id == CHANNEL_ID
    reply = world.answer(interaction)
    assert reply.embed is not None
    assert reply.embed.title == t("en", "assignment.created", name="Lab 1")
    assert all(len(f.value or "") <= 1024 for f in reply.embed.fields)


async def test_create_by_a_student_is_refused(world: World, staff_assignments_cog: Cog) -> None:
    interaction = world.interaction(world.student(1))
    cog = staff_assignments_cog

    error = await refused(call(cog.create, cog, interaction, "Lab 1", "+2h"), StaffOnlyError)
    await report(interaction, error)

    assert await world.services.assignments.list_for_staff(GUILD, STAFF) == []
    assert world.answer(interaction).content == render_error("en", error)


async def test_create_with_a_malformed_time_is_refused_with_an_example(
    world: World, staff_assignments_cog: Cog
) -> None:
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    error = await refused(
        call(cog.create, cog, interaction, "Lab 1", "next friday-ish"), TimeFormatError
    )
    await report(interaction, error)

    assert "next friday-ish" in (world.answer(interaction).content or "")


# --- edit ----------------------------------------------------------------------------------
async def test_edit_changes_only_the_given_options(
    world: World, staff_assignments_cog: Cog
) -> None:
    before = await make_assignment(world.services)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await call(cog.edit, cog, interaction, "Lab 1", max_group_size=4)

    after = await world.services.assignments.get(GUILD, "Lab 1")
    assert after.max_group_size == 4
    assert after.closes_at == before.closes_at and after.group_mode is before.group_mode
    reply = world.answer(interaction)
    assert reply.embed is not None
    assert reply.embed.title == t("en", "assignment.edited", name="Lab 1")


async def test_edit_of_the_mode_once_groups_exist_is_refused(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services)
    await world.services.groups.create(GUILD, student(1), "Lab 1", None, sent_at=world.clock.now())
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await refused(
        call(cog.edit, cog, interaction, "Lab 1", mode="predefined"), GroupModeLockedError
    )
    assignment = await world.services.assignments.get(GUILD, "Lab 1")
    assert assignment.group_mode is GroupMode.OPEN


# --- list ----------------------------------------------------------------------------------
async def test_list_shows_every_assignment_with_counts(
    world: World, staff_assignments_cog: Cog
) -> None:
    await _open_group_with_upload(world)
    await make_assignment(world.services, "Project")
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await call(cog.list_, cog, interaction)

    reply = world.answer(interaction)
    assert reply.embed is not None
    lines = (reply.embed.description or "").splitlines()
    assert len(lines) == 2
    assert "Lab 1" in lines[0] and "1 group (1 with an upload)" in lines[0]
    assert "Project" in lines[1]


async def test_list_by_a_student_is_refused(world: World, staff_assignments_cog: Cog) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.student(1))
    cog = staff_assignments_cog

    await refused(call(cog.list_, cog, interaction), StaffOnlyError)
    assert world.replies(interaction) == []


# --- overview ------------------------------------------------------------------------------
async def test_overview_lists_groups_and_role_members_without_a_group(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services, role_id=77)
    await world.services.groups.create(
        GUILD, student(1, 77), "Lab 1", "1234", sent_at=world.clock.now()
    )
    world.student(1, 77)
    world.student(2, 77)  # has the role, never ran a command
    world.student(3)  # no role: not a candidate
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await call(cog.overview, cog, interaction, "Lab 1")

    reply = world.answer(interaction)
    assert reply.via == "followup"
    assert "1234" in reply.field(t("en", "overview.groups", count=1))
    without = reply.field(t("en", "overview.without_group", count=1))
    assert "<@102>" in without and "<@103>" not in without


@pytest.mark.parametrize(
    ("locale", "language", "counts", "uploads"),
    [
        (
            discord.Locale.american_english,
            "en",
            "1 candidate · 1 group · 1 upload · 0 hand-ins · 0 final submissions",
            "1 upload",
        ),
        (
            discord.Locale.norwegian,
            "no",
            "1 kandidat · 1 gruppe · 1 opplasting · 0 leveringer · 0 endelige innleveringer",
            "1 opplasting",
        ),
    ],
)
async def test_overview_counts_take_their_plural_forms(
    world: World,
    staff_assignments_cog: Cog,
    locale: discord.Locale,
    language: str,
    counts: str,
    uploads: str,
) -> None:
    await _open_group_with_upload(world)
    interaction = world.interaction(world.staff(), locale=locale)
    cog = staff_assignments_cog

    await call(cog.overview, cog, interaction, "Lab 1")

    reply = world.answer(interaction)
    assert reply.field(t(language, "overview.counts")) == counts
    group_line = reply.field(t(language, "overview.groups", count=1))
    assert group_line.startswith("**1234** (`1234`): <@101> (")
    assert group_line.endswith(f") · {uploads}")


async def test_overview_by_a_student_is_refused_privately_after_the_defer(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.student(1))
    cog = staff_assignments_cog

    error = await refused(call(cog.overview, cog, interaction, "Lab 1"), StaffOnlyError)
    await report(interaction, error)

    reply = world.answer(interaction)
    assert reply.via == "followup"
    assert reply.content == render_error("en", error)


# --- close ---------------------------------------------------------------------------------
async def press(world: World, user: Any, item: HandinButton) -> Any:
    """`user` presses the button `item` (a component interaction)."""
    click = world.interaction(user)
    click.edit_original_response = AsyncMock()
    click.response.edit_message = AsyncMock()
    await item.run(click, world.services)
    return click


async def unchanged_snapshot(world: World) -> Any:
    return await snapshot(world.services.db, world.services.files)


async def test_close_now_records_the_final_submissions(
    world: World, staff_assignments_cog: Cog
) -> None:
    await _open_group_with_upload(world)
    world.clock.advance(60)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await call(cog.close, cog, interaction, "Lab 1")

    # First a question, and nothing closed yet.
    prompt = world.answer(interaction)
    assert prompt.content == t("en", "confirm.close_prompt", name="Lab 1")
    assert prompt.view is not None
    [confirm] = [b for b in prompt.view.children if isinstance(b, ConfirmClose)]
    assignment = await world.services.assignments.get(GUILD, "Lab 1")
    assert assignment.state(world.clock.now()) is AssignmentState.OPEN

    click = await press(world, world.staff(), confirm)

    assignment = await world.services.assignments.get(GUILD, "Lab 1")
    assert assignment.state(world.clock.now()) is AssignmentState.CLOSED
    async with world.services.db.reading() as conn:
        [group] = await group_repo.groups(conn, assignment.id)
        submission = await upload_repo.current_submission(conn, group.id)
    assert submission is not None and submission.upload is not None
    content = click.edit_original_response.await_args.kwargs["content"]
    assert content.startswith("**Lab 1** is closed; 1 final submission recorded.")


async def test_close_confirmed_by_another_user_is_refused_and_changes_nothing(
    world: World, staff_assignments_cog: Cog
) -> None:
    await _open_group_with_upload(world)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog
    await call(cog.close, cog, interaction, "Lab 1")
    view = world.answer(interaction).view
    assert view is not None
    [confirm] = [b for b in view.children if isinstance(b, ConfirmClose)]
    before = await unchanged_snapshot(world)

    with pytest.raises(NotYourButtonError):
        await press(world, world.student(1), confirm)

    assert await unchanged_snapshot(world) == before
    assignment = await world.services.assignments.get(GUILD, "Lab 1")
    assert assignment.state(world.clock.now()) is AssignmentState.OPEN


async def test_cancel_leaves_the_assignment_open(world: World, staff_assignments_cog: Cog) -> None:
    await _open_group_with_upload(world)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog
    await call(cog.close, cog, interaction, "Lab 1")
    view = world.answer(interaction).view
    assert view is not None
    [cancel] = [b for b in view.children if isinstance(b, Cancel)]

    click = await press(world, world.staff(), cancel)

    assert click.response.edit_message.await_args.kwargs["content"] == t("en", "confirm.cancelled")
    assignment = await world.services.assignments.get(GUILD, "Lab 1")
    assert assignment.state(world.clock.now()) is AssignmentState.OPEN


async def test_close_of_a_closed_assignment_is_refused(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services, closes="+1m")
    world.clock.advance(120)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await refused(call(cog.close, cog, interaction, "Lab 1"), ClosedDeadlineEditError)


# --- reopen --------------------------------------------------------------------------------
async def test_reopen_gives_a_closed_assignment_a_new_deadline(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services, closes="+1m")
    world.clock.advance(120)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await call(cog.reopen, cog, interaction, "Lab 1", "+1h")

    prompt = world.answer(interaction)
    assert "Lab 1" in (prompt.content or "")
    assert prompt.view is not None
    [confirm] = [b for b in prompt.view.children if isinstance(b, ConfirmReopen)]
    closed = await world.services.assignments.get(GUILD, "Lab 1")
    assert closed.state(world.clock.now()) is AssignmentState.CLOSED

    click = await press(world, world.staff(), confirm)

    assignment = await world.services.assignments.get(GUILD, "Lab 1")
    assert assignment.closes_at == world.clock.now() + timedelta(hours=1)
    assert assignment.state(world.clock.now()) is AssignmentState.OPEN
    assert "Lab 1" in click.edit_original_response.await_args.kwargs["content"]


async def test_reopen_of_an_open_assignment_is_refused(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await refused(call(cog.reopen, cog, interaction, "Lab 1", "+3h"), AssignmentNotClosedError)


# --- extend --------------------------------------------------------------------------------
async def test_extend_gives_one_group_its_own_deadline(
    world: World, staff_assignments_cog: Cog
) -> None:
    await _open_group_with_upload(world)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await call(cog.extend, cog, interaction, "Lab 1", "1234", "+5h")

    assignment = await world.services.assignments.get(GUILD, "Lab 1")
    async with world.services.db.reading() as conn:
        group = await group_repo.group_by_pin(conn, assignment.id, "1234")
    assert group is not None
    assert group.closes_at == world.clock.now() + timedelta(hours=5)
    assert "1234" in (world.answer(interaction).content or "")


async def test_extend_of_an_unknown_pin_is_refused(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await refused(call(cog.extend, cog, interaction, "Lab 1", "4321", "+5h"), GroupNotFoundError)


# --- announce ------------------------------------------------------------------------------
async def test_announce_posts_in_the_assignment_channel_and_confirms_privately(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services, channel_id=CHANNEL_ID)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await call(cog.announce, cog, interaction, "Lab 1", "Good luck!")

    world.channel.send.assert_awaited_once()
    embed = world.channel.send.await_args.kwargs["embed"]
    assert "Lab 1" in (embed.title or "") and embed.description == "Good luck!"
    assert f"<#{CHANNEL_ID}>" in (world.answer(interaction).content or "")


async def test_announce_of_a_role_assignment_pings_that_role_only(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services, channel_id=CHANNEL_ID, role_id=77)
    interaction = world.interaction(world.staff())
    cog = staff_assignments_cog

    await call(cog.announce, cog, interaction, "Lab 1", None)

    sent = world.channel.send.await_args.kwargs
    assert sent["content"] == "<@&77>"
    mentions = sent["allowed_mentions"].to_dict()
    assert (mentions["parse"], mentions["roles"]) == ([], [77])


async def test_announce_by_a_student_is_refused_and_posts_nothing(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services, channel_id=CHANNEL_ID)
    interaction = world.interaction(world.student(1))
    cog = staff_assignments_cog

    await refused(call(cog.announce, cog, interaction, "Lab 1", None), StaffOnlyError)
    world.channel.send.assert_not_awaited()


async def test_staff_autocomplete_offers_nothing_to_students(
    world: World, staff_assignments_cog: Cog
) -> None:
    await make_assignment(world.services)
    cog = staff_assignments_cog

    assert [
        c.value for c in await complete(cog, "_name", world.interaction(world.staff()), "")
    ] == ["Lab 1"]
    assert await complete(cog, "_name", world.interaction(world.student(1)), "") == []
