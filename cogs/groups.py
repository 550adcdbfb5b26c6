"""Students getting ready and managing their groups: /ready and /group ..."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.domain.models import GroupMode
from bot.i18n import t
from cogs._buttons import ShowStatus, view_of
from cogs._common import HandinCog, actor_of, assignment_choices, guild_id_of, respond
from cogs._embeds import group_embed, ready_embed
from cogs._notify import send_direct

log = logging.getLogger(__name__)


class GroupsCog(HandinCog):
    group = app_commands.Group(
        name="group",
        description="Create, join, leave and see your group",
        guild_only=True,
        # Sent as `contexts`: guild_only alone sets only the deprecated dm_permission.
        allowed_contexts=app_commands.AppCommandContext(guild=True),
    )

    @app_commands.command(name="ready")
    @app_commands.guild_only()
    async def ready(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Get ready: your candidate number, your group, the deadline and the rules.

        Args:
            assignment: The assignment
        """
        view = await self.services.groups.ready(
            guild_id_of(interaction), actor_of(interaction), assignment
        )
        locale = await self.locale(interaction)
        # With a group, the next step is to see its status: one press away.
        buttons = (
            view_of(ShowStatus(t(locale, "button.status"), assignment=view.assignment.id))
            if view.group is not None
            else None
        )
        await respond(interaction, embed=ready_embed(locale, view), view=buttons)

    @group.command(name="create")
    async def create(
        self, interaction: discord.Interaction[Any], assignment: str, pin: str | None = None
    ) -> None:
        """Create a group; you get its PIN (and password) to share with your group.

        Args:
            assignment: The assignment
            pin: A 4-digit PIN of your choice (leave empty for a random free one)
        """
        # The reply waits on a DM too: under a deadline's rate limits that can pass 3 s.
        await interaction.response.defer(ephemeral=True, thinking=True)
        created = await self.services.groups.create(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            pin,
            sent_at=interaction.created_at,
        )
        locale = await self.locale(interaction)
        the_assignment = created.view.assignment
        embed = group_embed(locale, the_assignment, created.view, created.password)
        dm_text = t(
            locale,
            "group.created_dm",
            name=the_assignment.name,
            pin=created.view.group.pin,
        )
        # The group exists already: whatever stops the DM must not hide its PIN.
        delivered = (await send_direct(interaction.user, dm_text, embed=embed)).sent
        key = "group.created" if delivered else "group.created_no_dm"
        text = t(locale, key, pin=created.view.group.pin, name=the_assignment.name)
        # DMs closed: the PIN (and password) must still reach the creator, privately.
        await respond(interaction, text, embed=None if delivered else embed)

    @group.command(name="join")
    async def join(
        self,
        interaction: discord.Interaction[Any],
        assignment: str,
        pin: str,
        password: str | None = None,
        switch: bool = False,
    ) -> None:
        """Join a group with its PIN (and password); switch:true leaves your current group first.

        Args:
            assignment: The assignment
            pin: The group's 4-digit PIN
            password: The group's password (password-protected groups)
            switch: Leave your current group first
        """
        view = await self.services.groups.join(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            pin,
            password,
            switch=switch,
            sent_at=interaction.created_at,
        )
        locale = await self.locale(interaction)
        await respond(
            interaction,
            t(locale, "group.joined", pin=view.group.pin),
            embed=group_embed(locale, view.assignment, view),
        )

    @group.command(name="leave")
    async def leave(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Leave your group.

        Args:
            assignment: The assignment
        """
        left = await self.services.groups.leave(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            sent_at=interaction.created_at,
        )
        key = "group.left_deleted" if left.deleted else "group.left"
        await self.say(interaction, key, pin=left.pin)

    @group.command(name="info")
    async def info(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Your group's PIN, members with candidate numbers, and password.

        Args:
            assignment: The assignment
        """
        view = await self.services.groups.info(
            guild_id_of(interaction), actor_of(interaction), assignment
        )
        mode = view.assignment.group_mode
        password = view.group.password if mode is GroupMode.PASSWORD else None
        embed = group_embed(await self.locale(interaction), view.assignment, view, password)
        await respond(interaction, embed=embed)

    @group.command(name="password")
    async def password(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Make a new group password; the old one stops working.

        Args:
            assignment: The assignment
        """
        view, password = await self.services.groups.regenerate_password(
            guild_id_of(interaction), actor_of(interaction), assignment
        )
        locale = await self.locale(interaction)
        await respond(
            interaction,
            t(locale, "group.password_new"),
            embed=group_embed(locale, view.assignment, view, password),
        )

    @ready.autocomplete("assignment")
    @create.autocomplete("assignment")
    @join.autocomplete("assignment")
    @leave.autocomplete("assignment")
    @info.autocomplete("assignment")
    @password.autocomplete("assignment")
    async def _assignment(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await assignment_choices(self.services, interaction, current, staff=False)
