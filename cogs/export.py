"""Results for grading: /export (staff)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from bot.i18n import human_size, t, tn
from bot.services.registry import Services
from cogs._common import (
    HandinCog,
    actor_of,
    assignment_choices,
    guild_id_of,
    people_of,
    respond,
)
from cogs._paging import CONTENT_LIMIT, split_text


class ExportCog(HandinCog):
    def __init__(self, services: Services, exports_dir: Path) -> None:
        super().__init__(services)
        # Where an export too large for Discord is written (the host's data folder).
        self._exports_dir = exports_dir

    @app_commands.command(name="export")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def export(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Export the hand-ins for grading: a ZIP with results.csv and every group's file.

        Args:
            assignment: The assignment
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        out_dir = self._exports_dir
        result = await self.services.exports.export(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            out_dir,
            people=people_of(interaction.guild),
        )
        locale = await self.locale(interaction)
        lines = [
            t(
                locale,
                "export.summary",
                groups=tn(locale, "count.groups", result.groups),
                files=tn(locale, "count.files", result.files),
                size=human_size(locale, result.size_bytes),
            )
        ]
        if result.snapshot:
            lines.append(t(locale, "export.snapshot"))
        lines += [
            t(
                locale,
                f"export.problem.{p.reason}",
                pin=p.pin,
                filename=p.filename,
                sha=p.sha256[:12],
            )
            for p in result.problems
        ]
        limit = interaction.guild.filesize_limit if interaction.guild else 0
        if result.size_bytes <= limit:
            # Many problems with long file names pass Discord's 2,000: the rest follows.
            first, *rest = split_text("\n".join(lines), CONTENT_LIMIT)
            await respond(
                interaction, first, file=discord.File(result.path, filename=result.path.name)
            )
            for part in rest:
                await respond(interaction, part)
            return
        # Right after the summary, so the path is in the first message.
        lines.insert(1, t(locale, "export.on_host", path=str(result.path)))
        for part in split_text("\n".join(lines), CONTENT_LIMIT):
            await respond(interaction, part)

    @export.autocomplete("assignment")
    async def _assignment(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await assignment_choices(self.services, interaction, current, staff=True)
