"""answer_in_time: answer directly when quick, defer only when the work runs long."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from unittest.mock import AsyncMock, MagicMock

import discord

from cogs._common import DEFER_AFTER, answer_in_time


def interaction_created(ago: timedelta) -> MagicMock:
    interaction = MagicMock(spec=discord.Interaction)
    interaction.created_at = discord.utils.utcnow() - ago
    interaction.response = MagicMock(spec=discord.InteractionResponse)
    interaction.response.defer = AsyncMock()
    return interaction


async def test_quick_work_is_answered_without_a_defer() -> None:
    interaction = interaction_created(timedelta(0))

    async def quick() -> str:
        return "done"

    assert await answer_in_time(interaction, quick()) == "done"
    interaction.response.defer.assert_not_awaited()


async def test_work_still_running_near_the_limit_defers_first() -> None:
    # Created long enough ago that the budget is almost spent.
    interaction = interaction_created(DEFER_AFTER - timedelta(milliseconds=20))

    async def slow() -> str:
        await asyncio.sleep(0.2)
        return "done"

    assert await answer_in_time(interaction, slow()) == "done"
    interaction.response.defer.assert_awaited_once_with(ephemeral=True, thinking=True)
