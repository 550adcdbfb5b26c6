"""Feedback back to the groups (SPEC §7): /feedback import and release (staff), show (students).

Discord cannot have both a command `/feedback` and subcommands under it, so the students' view
is `/feedback show`. A group's default permissions cover all its subcommands, so the staff ones
cannot be hidden from members: the services refuse anyone but staff, and each staff subcommand
says so in its `extras` (the security suite walks them as staff commands)."""

from __future__ import annotations

import contextlib
from typing import Any

import aiohttp
import discord
from discord import app_commands

from bot.i18n import human_size, t, tn
from bot.services.feedback import IncomingAttachment
from bot.services.registry import Services
from cogs._common import HandinCog, actor_of, assignment_choices, guild_id_of, respond
from cogs._feedback import feedback_embed
from cogs.submissions import stream_from

# A staff subcommand inside a group students can use (see the module's docstring).
STAFF = {"staff": True}
# Discord takes at most 10 attachments in one message.
FILES_PER_MESSAGE = 10


class FeedbackCog(HandinCog):
    feedback = app_commands.Group(
        name="feedback",
        description="Feedback back to the groups",
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
    )

    def __init__(self, services: Services, session: aiohttp.ClientSession) -> None:
        super().__init__(services)
        self._session = session

    def _incoming(self, file: discord.Attachment) -> IncomingAttachment:
        return IncomingAttachment(file.filename, file.size, stream_from(self._session, file.url))

    @feedback.command(name="import", extras=STAFF)
    async def import_(
        self,
        interaction: discord.Interaction[Any],
        assignment: str,
        file: discord.Attachment,
        files: discord.Attachment | None = None,
    ) -> None:
        """Import feedback (staff): a CSV group_pin,grade,comment and a ZIP of <PIN>/ files.

        Args:
            assignment: The assignment
            file: A UTF-8 CSV: group_pin,grade,comment (header optional)
            files: A ZIP with a folder per group PIN, laid out like the export
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        summary = await self.services.feedback.import_draft(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            self._incoming(file),
            None if files is None else self._incoming(files),
            file_limit=interaction.filesize_limit,
        )
        locale = await self.locale(interaction)
        text = t(
            locale,
            "feedback.imported",
            name=summary.assignment.name,
            groups=tn(locale, "count.groups", summary.groups),
            files=tn(locale, "count.files", summary.files),
        )
        if summary.replaced:
            text += "\n" + tn(locale, "feedback.replaced", summary.replaced)
        await respond(interaction, text)

    @feedback.command(name="release", extras=STAFF)
    async def release(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Release the feedback (staff): every member gets their group's by DM, once.

        Args:
            assignment: The assignment
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.services.feedback.release(
            guild_id_of(interaction), actor_of(interaction), assignment
        )
        locale = await self.locale(interaction)
        await respond(
            interaction,
            t(
                locale,
                "feedback.released",
                name=result.name,
                groups=tn(locale, "count.groups", result.groups),
                members=tn(locale, "count.members", result.deliveries),
            ),
        )

    @feedback.command(name="show")
    async def show(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Your group's feedback: grade, comment and files.

        Args:
            assignment: The assignment
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        found, feedback = await self.services.feedback.show(
            guild_id_of(interaction), actor_of(interaction), assignment
        )
        locale = await self.locale(interaction)
        embed = feedback_embed(locale, found, feedback)
        limit = interaction.filesize_limit
        fitting = [f for f in feedback.files if f.size <= limit]
        too_large = [f for f in feedback.files if f.size > limit]
        notes = [
            t(
                locale,
                "feedback.file_too_large",
                filename=f.filename,
                size=human_size(locale, f.size),
            )
            for f in too_large
        ]
        batches = [
            fitting[n : n + FILES_PER_MESSAGE] for n in range(0, len(fitting), FILES_PER_MESSAGE)
        ]
        if not batches:
            await respond(interaction, "\n".join(notes) or None, embed=embed)
            return
        for n, batch in enumerate(batches):
            async with contextlib.AsyncExitStack() as stack:
                copies = [
                    await stack.enter_async_context(self.services.feedback.local_copy(f))
                    for f in batch
                ]
                attached = [
                    discord.File(path, filename=f.filename)
                    for path, f in zip(copies, batch, strict=True)
                ]
                if n == 0:
                    await respond(
                        interaction, "\n".join(notes) or None, embed=embed, files=attached
                    )
                else:
                    await respond(interaction, files=attached)

    @import_.autocomplete("assignment")
    @release.autocomplete("assignment")
    async def _staff_assignment(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await assignment_choices(self.services, interaction, current, staff=True)

    @show.autocomplete("assignment")
    async def _assignment(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await assignment_choices(self.services, interaction, current, staff=False)
