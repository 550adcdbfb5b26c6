"""/ready and /group create, join, leave, info, password at the callback level."""

from __future__ import annotations

from unittest.mock import MagicMock

import discord

from bot.domain.errors import (
    AssignmentNotFoundError,
    GroupNotFoundError,
    NoPasswordModeError,
    NotInGroupError,
    PasswordRequiredError,
    PinFormatError,
    PredefinedGroupsError,
    WrongPasswordError,
)
from bot.domain.models import GroupMode
from bot.i18n import t
from bot.tree import render_error, report
from cogs.groups import GroupsCog
from storage.repos import groups as group_repo
from tests.cogs.conftest import World, call, refused
from tests.conftest import GUILD, make_assignment, student
from tests.snapshot import unchanged


async def _groups(world: World, name: str = "Lab 1") -> list[tuple[str, list[int]]]:
    """The assignment's groups as (PIN, member ids)."""
    assignment = await world.services.assignments.get(GUILD, name)
    async with world.services.db.reading() as conn:
        return [
            (g.pin, sorted(m.user_id for m in await group_repo.members(conn, g.id)))
            for g in await group_repo.groups(conn, assignment.id)
        ]


# --- /ready --------------------------------------------------------------------------------
async def test_ready_registers_the_candidate_and_shows_how_to_get_a_group(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.student(1))

    await call(groups_cog.ready, groups_cog, interaction, "lab 1")

    reply = world.answer(interaction)
    assert reply.embed is not None and "Lab 1" in (reply.embed.title or "")
    assignment = await world.services.assignments.get(GUILD, "Lab 1")
    async with world.services.db.reading() as conn:
        candidate = await group_repo.candidate(conn, assignment.id, 101)
    assert candidate is not None
    assert str(candidate.number) in reply.field(t("en", "ready.candidate"))
    assert "/group create" in reply.field(t("en", "ready.no_group"))


async def test_ready_for_an_unknown_assignment_is_refused_with_a_private_message(
    world: World, groups_cog: GroupsCog
) -> None:
    interaction = world.interaction(world.student(1))

    error = await refused(
        call(groups_cog.ready, groups_cog, interaction, "Nope"), AssignmentNotFoundError
    )
    await report(interaction, error)

    reply = world.answer(interaction)
    assert reply.via == "response"
    assert reply.content == render_error("en", error)
    assert "Nope" in reply.content


# --- /group create -------------------------------------------------------------------------
async def test_group_create_sends_the_pin_by_dm_and_answers_privately(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services)
    creator = world.student(1)
    interaction = world.interaction(creator)

    await call(groups_cog.create, groups_cog, interaction, "Lab 1", "0427")

    assert await _groups(world) == [("0427", [101])]
    reply = world.answer(interaction)
    assert "0427" in reply.text
    assert reply.embed is None  # the details went by DM
    [dm] = world.dms_to(creator)
    assert dm.embed is not None and "0427" in dm.text


async def test_group_create_with_dms_closed_shows_pin_and_password_ephemerally(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services, mode=GroupMode.PASSWORD)
    interaction = world.interaction(world.student(1, dms=False))

    await call(groups_cog.create, groups_cog, interaction, "Lab 1", None)

    [(pin, members)] = await _groups(world)
    assert members == [101]
    reply = world.answer(interaction)
    assert reply.embed is not None
    assert pin in reply.field(t("en", "group.pin"))
    password = reply.field(t("en", "group.password"))
    assert password.startswith("```") and len(password.strip("`\n")) == 16


async def test_group_create_shows_the_pin_when_the_dm_fails_for_another_reason(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services)
    creator = world.student(1)
    server_error = discord.DiscordServerError(MagicMock(status=503, reason="Unavailable"), "")
    creator.create_dm.return_value.send.side_effect = server_error
    interaction = world.interaction(creator)

    await call(groups_cog.create, groups_cog, interaction, "Lab 1", "0427")

    assert await _groups(world) == [("0427", [101])]
    reply = world.answer(interaction)
    assert reply.embed is not None and "0427" in reply.field(t("en", "group.pin"))


async def test_group_create_with_a_malformed_pin_is_refused_and_changes_nothing(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.student(1))

    async with unchanged(world.services.db, world.services.files):
        await refused(
            call(groups_cog.create, groups_cog, interaction, "Lab 1", "12a4"), PinFormatError
        )
    assert world.replies(interaction) == []


async def test_group_create_in_predefined_mode_is_refused(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services, mode=GroupMode.PREDEFINED)
    interaction = world.interaction(world.student(1))

    await refused(
        call(groups_cog.create, groups_cog, interaction, "Lab 1", None), PredefinedGroupsError
    )
    assert await _groups(world) == []


# --- /group join ---------------------------------------------------------------------------
async def test_group_join_with_the_pin_adds_the_member(world: World, groups_cog: GroupsCog) -> None:
    await make_assignment(world.services)
    await world.services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=world.clock.now()
    )
    interaction = world.interaction(world.student(2))

    await call(groups_cog.join, groups_cog, interaction, "Lab 1", "1234", None, False)

    assert await _groups(world) == [("1234", [101, 102])]
    reply = world.answer(interaction)
    assert "1234" in (reply.content or "")
    assert reply.embed is not None
    assert "<@102>" in reply.field(t("en", "group.members", count=2))


async def test_group_join_with_an_unknown_pin_is_refused(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.student(2))

    async with unchanged(world.services.db, world.services.files):
        await refused(
            call(groups_cog.join, groups_cog, interaction, "Lab 1", "9999", None, False),
            GroupNotFoundError,
        )


async def test_group_join_without_password_in_password_mode_is_refused(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services, mode=GroupMode.PASSWORD)
    await world.services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=world.clock.now()
    )
    interaction = world.interaction(world.student(2))

    await refused(
        call(groups_cog.join, groups_cog, interaction, "Lab 1", "1234", None, False),
        PasswordRequiredError,
    )
    assert await _groups(world) == [("1234", [101])]


# --- /group leave --------------------------------------------------------------------------
async def test_group_leave_by_the_last_member_deletes_the_empty_group(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services)
    await world.services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=world.clock.now()
    )
    interaction = world.interaction(world.student(1))

    await call(groups_cog.leave, groups_cog, interaction, "Lab 1")

    assert await _groups(world) == []
    assert "1234" in (world.answer(interaction).content or "")


async def test_group_leave_without_a_group_is_refused(world: World, groups_cog: GroupsCog) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.student(1))

    await refused(call(groups_cog.leave, groups_cog, interaction, "Lab 1"), NotInGroupError)


# --- /group info ---------------------------------------------------------------------------
async def test_group_info_shows_members_and_the_password_in_a_code_block(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services, mode=GroupMode.PASSWORD)
    created = await world.services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=world.clock.now()
    )
    interaction = world.interaction(world.student(1))

    await call(groups_cog.info, groups_cog, interaction, "Lab 1")

    reply = world.answer(interaction)
    assert created.password is not None
    assert reply.field(t("en", "group.password")) == f"```\n{created.password}\n```"
    assert "<@101>" in reply.field(t("en", "group.members", count=1))


async def test_group_info_without_a_group_is_refused(world: World, groups_cog: GroupsCog) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.student(1))

    await refused(call(groups_cog.info, groups_cog, interaction, "Lab 1"), NotInGroupError)


# --- /group password -----------------------------------------------------------------------
async def test_group_password_makes_a_new_one_and_the_old_one_stops_working(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services, mode=GroupMode.PASSWORD)
    created = await world.services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=world.clock.now()
    )
    interaction = world.interaction(world.student(1))

    await call(groups_cog.password, groups_cog, interaction, "Lab 1")

    new = world.answer(interaction).field(t("en", "group.password")).strip("`\n")
    assert len(new) == 16 and new != created.password
    assert created.password is not None
    await refused(
        world.services.groups.join(
            GUILD, student(2), "Lab 1", "1234", created.password, sent_at=world.clock.now()
        ),
        WrongPasswordError,
    )
    await world.services.groups.join(
        GUILD, student(2), "Lab 1", "1234", new, sent_at=world.clock.now()
    )


async def test_group_password_in_open_mode_is_refused(world: World, groups_cog: GroupsCog) -> None:
    await make_assignment(world.services)
    await world.services.groups.create(
        GUILD, student(1), "Lab 1", "1234", sent_at=world.clock.now()
    )
    interaction = world.interaction(world.student(1))

    await refused(call(groups_cog.password, groups_cog, interaction, "Lab 1"), NoPasswordModeError)


async def test_refusals_reach_a_norwegian_user_in_norwegian(
    world: World, groups_cog: GroupsCog
) -> None:
    await make_assignment(world.services)
    interaction = world.interaction(world.student(1), locale=discord.Locale.norwegian)

    error = await refused(call(groups_cog.leave, groups_cog, interaction, "Lab 1"), NotInGroupError)
    await report(interaction, error)

    reply = world.answer(interaction)
    assert reply.content == render_error("no", error)
    assert reply.content != error.key
