"""How errors out of a command reach the user (`bot.tree.report`), deferred or not."""

from __future__ import annotations

import logging

import pytest
from discord import app_commands

from bot.domain.errors import AssignmentNotFoundError, StaffOnlyError
from bot.i18n import t
from bot.tree import render_error, report
from cogs.groups import GroupsCog
from tests.cogs.conftest import World, call, refused


async def test_a_wrapped_domain_error_is_rendered_like_the_bare_one(
    world: World, groups_cog: GroupsCog
) -> None:
    interaction = world.interaction(world.student(1))
    error = await refused(
        call(groups_cog.ready, groups_cog, interaction, "Nope"), AssignmentNotFoundError
    )

    # What discord.py hands to CommandTree.on_error.
    await report(interaction, app_commands.CommandInvokeError(groups_cog.ready, error))

    assert world.answer(interaction).content == render_error("en", error)


async def test_a_failed_check_is_a_staff_only_refusal(world: World) -> None:
    interaction = world.interaction(world.student(1))

    await report(interaction, app_commands.CheckFailure())

    assert world.answer(interaction).content == render_error("en", StaffOnlyError())


async def test_an_unexpected_error_after_a_defer_gets_a_private_error_id(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    interaction = world.interaction(world.student(1))
    await interaction.response.defer(ephemeral=True, thinking=True)

    with caplog.at_level(logging.ERROR, logger="bot.tree"):
        await report(interaction, RuntimeError("boom"))

    reply = world.answer(interaction)
    assert reply.via == "followup"
    [record] = caplog.records
    error_id = record.args[0]  # type: ignore[index]
    assert reply.content == t("en", "error.unexpected", error_id=error_id)
    assert "boom" not in (reply.content or "")
