"""Staff managing groups: /groups add, remove, import, random, list, and handin on a group's
behalf."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import discord
from discord import app_commands

from bot.domain.sanitize import slug
from bot.i18n import human_size, t, tn
from bot.services.groups import CsvSource
from bot.services.registry import Services
from bot.services.staff_handin import REASON_MAX
from cogs._common import (
    INFO,
    HandinCog,
    actor_of,
    assignment_choices,
    guild_id_of,
    people_of,
    person_of,
    respond,
)
from cogs._embeds import members_text
from cogs._paging import Section, csv_file, field_pages, send_pages
from cogs.submissions import incoming_file, part_choices

log = logging.getLogger(__name__)

GROUPS_CSV_HEADER = ("group_pin", "group_name", "candidate_number", "user_id", "display_name")


class StaffGroupsCog(HandinCog):
    groups = app_commands.Group(
        name="groups",
        description="Manage predefined groups (staff)",
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, services: Services, session: aiohttp.ClientSession | None = None) -> None:
        super().__init__(services)
        # Where `/groups handin` fetches its attachment (the bot's one HTTP session).
        self._session = session

    @groups.command(name="add")
    async def add(
        self,
        interaction: discord.Interaction[Any],
        assignment: str,
        member: discord.Member,
        group: str,
    ) -> None:
        """Put a member in a named group (created if new).

        Args:
            assignment: The assignment (predefined groups)
            member: The member to place
            group: The group's name
        """
        view = await self.services.groups.staff_add(
            guild_id_of(interaction), actor_of(interaction), assignment, person_of(member), group
        )
        await self.say(
            interaction,
            "groups.added",
            user_id=member.id,
            label=view.group.label,
            pin=view.group.pin,
        )

    @groups.command(name="remove")
    async def remove(
        self, interaction: discord.Interaction[Any], assignment: str, member: discord.Member
    ) -> None:
        """Take a member out of their group.

        Args:
            assignment: The assignment (predefined groups)
            member: The member to take out
        """
        group = await self.services.groups.staff_remove(
            guild_id_of(interaction), actor_of(interaction), assignment, member.id
        )
        await self.say(interaction, "groups.removed", user_id=member.id, label=group.label)

    @groups.command(name="import")
    async def import_(
        self, interaction: discord.Interaction[Any], assignment: str, file: discord.Attachment
    ) -> None:
        """Import groups from a CSV of group_name,member rows; all or nothing.

        Args:
            assignment: The assignment (predefined groups)
            file: A UTF-8 CSV: group_name,member (member = user id, mention or username)
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        result = await self.services.groups.staff_import(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            CsvSource(file.size, file.read),
            people_of(interaction.guild),
        )
        locale = await self.locale(interaction)
        await respond(
            interaction,
            t(
                locale,
                "groups.imported",
                created=tn(locale, "count.new_groups", result.groups_created),
                placed=tn(locale, "count.placed", result.members_placed),
                unchanged=tn(locale, "count.unchanged", result.unchanged),
            ),
        )

    @groups.command(name="random")
    async def random(
        self,
        interaction: discord.Interaction[Any],
        assignment: str,
        size: app_commands.Range[int, 1, 100],
        role: discord.Role | None = None,
    ) -> None:
        """Split the candidates without a group into random groups of about this size.

        Args:
            assignment: The assignment (predefined groups)
            size: Members per group (some groups get one more)
            role: Only split members with this role
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        views = await self.services.groups.staff_random(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            size,
            people_of(interaction.guild),
            None if role is None else role.id,
        )
        members = sum(len(v.members) for v in views)
        locale = await self.locale(interaction)
        text = t(
            locale,
            "groups.randomized",
            groups=tn(locale, "count.random_groups", len(views)),
            members=tn(locale, "count.members", members),
        )
        await respond(interaction, text)

    @groups.command(name="list")
    async def list_(self, interaction: discord.Interaction[Any], assignment: str) -> None:
        """Groups, members and candidate numbers.

        Args:
            assignment: The assignment
        """
        views = await self.services.groups.staff_list(
            guild_id_of(interaction), actor_of(interaction), assignment
        )
        locale = await self.locale(interaction)
        name = views[0].assignment.name if views else assignment
        title = tn(locale, "groups.list_title", len(views), name=name)
        sections = [
            Section(
                t(locale, "groups.list_group", label=view.group.label, pin=view.group.pin),
                members_text(locale, view.members),
            )
            for view in views
        ]
        pages = field_pages(
            title,
            sections,
            colour=INFO,
            description=None if views else t(locale, "groups.list_empty"),
        )
        rows: list[tuple[object, ...]] = []
        for v in views:
            rows += [
                (v.group.pin, v.group.label, m.number, m.user_id, m.display_name) for m in v.members
            ]
            if not v.members:
                rows.append((v.group.pin, v.group.label, "", "", ""))
        await send_pages(
            interaction,
            pages,
            locale=locale,
            file=csv_file(f"groups-{slug(name)}.csv", GROUPS_CSV_HEADER, rows),
        )

    @groups.command(name="handin")
    async def handin(
        self,
        interaction: discord.Interaction[Any],
        assignment: str,
        pin: str,
        file: discord.Attachment,
        reason: app_commands.Range[str, 1, REASON_MAX],
        part: str | None = None,
    ) -> None:
        """Hand in a file on a group's behalf; it is final at once, and the members are told why.

        Args:
            assignment: The assignment
            pin: The group's PIN
            file: The file the group sent you
            reason: Why staff hand it in (every member's receipt says so)
            part: The part it is for (when the assignment has parts)
        """
        await interaction.response.defer(ephemeral=True, thinking=True)
        assert self._session is not None, "StaffGroupsCog needs the HTTP session for handin"
        incoming = incoming_file(self._session, file)
        result = await self.services.staff_handins.hand_in(
            guild_id_of(interaction),
            actor_of(interaction),
            assignment,
            pin,
            incoming,
            reason,
            sent_at=interaction.created_at,
            upload_limit_bytes=interaction.filesize_limit,
            part=part,
            interaction_id=interaction.id,
        )
        locale = await self.locale(interaction)
        upload = result.upload
        text = "" if result.part is None else t(locale, "upload.part", part=result.part.name) + "\n"
        text += t(
            locale,
            "groups.handed_in",
            filename=upload.filename,
            size=human_size(locale, upload.size),
            sha=upload.sha256[:12],
            label=result.view.group.label,
            pin=result.view.group.pin,
            members=tn(locale, "count.members", len(result.view.members)),
        )
        await respond(interaction, text)

    @handin.autocomplete("part")
    async def _part(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await part_choices(self.services, interaction, current)

    @add.autocomplete("assignment")
    @remove.autocomplete("assignment")
    @import_.autocomplete("assignment")
    @random.autocomplete("assignment")
    @list_.autocomplete("assignment")
    @handin.autocomplete("assignment")
    async def _assignment(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await assignment_choices(self.services, interaction, current, staff=True)
