"""Staff managing assignments: /assignment create, edit, list, overview, close, reopen, extend,
announce."""

from __future__ import annotations

import dataclasses
import io
import logging
from datetime import UTC, datetime
from typing import Any, Literal

import discord
from discord import app_commands

from bot.domain.errors import CannotPostError
from bot.domain.models import Assignment, GroupMode
from bot.domain.sanitize import slug
from bot.domain.timeparse import format_offset
from bot.i18n import t, timestamp, tn
from bot.services.assignments import AssignmentOptions, Overview
from cogs._buttons import close_prompt, purge_prompt, reopen_prompt
from cogs._calendar import follow_deadline
from cogs._chart import FILENAME as CHART_FILE
from cogs._chart import chart_data, render_png
from cogs._common import (
    INFO,
    HandinCog,
    actor_of,
    assignment_choices,
    guild_id_of,
    people_of,
    respond,
)
from cogs._embeds import deadline_text, overview_pages, rules_text
from cogs._paging import csv_file, line_pages, send_pages

log = logging.getLogger(__name__)

Mode = Literal["predefined", "open", "password"]

ANNOUNCE_LIMIT = 2000
ASSIGNMENTS_CSV_HEADER = (
    "assignment",
    "state",
    "closes_at",
    "candidates",
    "groups",
    "groups_with_uploads",
    "submissions",
)
OVERVIEW_CSV_HEADER = (
    "group_pin",
    "group_name",
    "candidate_number",
    "user_id",
    "uploads",
    "handed_in",
)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def overview_csv(overview: Overview) -> discord.File:
    """Every group with its members, then every candidate with no group: one row each."""
    rows: list[tuple[object, ...]] = []
    for g in overview.groups:
        handed_in = "yes" if g.handed_in else "no"
        members = g.members or (None,)
        for m in members:
            rows.append(
                (
                    g.group.pin,
                    g.group.label,
                    "" if m is None else m.number,
                    "" if m is None else m.user_id,
                    g.uploads,
                    handed_in,
                )
            )
    rows += [("", "", c.number, c.user_id, "", "") for c in overview.without_group]
    return csv_file(f"overview-{slug(overview.assignment.name)}.csv", OVERVIEW_CSV_HEADER, rows)


def _options(
    closes: str | None,
    opens: str | None,
    mode: Mode | None,
    auto_submit: bool | None,
    submit_once: bool | None,
    max_group_size: int | None,
    max_file_mb: float | None,
    file_types: str | None,
    late_until: str | None,
    single_editor: bool | None,
    anonymous: bool | None,
    role: discord.Role | None,
    channel: discord.TextChannel | None,
    reminders: str | None,
    max_uploads: int | None,
    max_storage_mb: float | None,
    parts: str | None = None,
) -> AssignmentOptions:
    return AssignmentOptions(
        closes=closes,
        opens=opens,
        mode=None if mode is None else GroupMode(mode),
        auto_submit=auto_submit,
        submit_once=submit_once,
        max_group_size=max_group_size,
        max_file_mb=max_file_mb,
        file_types=file_types,
        late_until=late_until,
        single_editor=single_editor,
        anonymous=anonymous,
        role_id=None if role is None else role.id,
        channel_id=None if channel is None else channel.id,
        reminders=reminders,
        max_uploads=max_uploads,
        max_storage_mb=max_storage_mb,
        parts=parts,
    )


class StaffAssignmentsCog(HandinCog):
    assignment = app_commands.Group(
        name="assignment",
        description="Create and run assignments (staff)",
        guild_only=True,
        allowed_contexts=app_commands.AppCommandContext(guild=True),
        default_permissions=discord.Permissions(manage_guild=True),
    )

    @assignment.command(name="create")
    async def create(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        closes: str,
        opens: str | None = None,
        mode: Mode | None = None,
        auto_submit: bool | None = None,
        submit_once: bool | None = None,
        max_group_size: app_commands.Range[int, 1, 1000] | None = None,
        max_file_mb: float | None = None,
        file_types: str | None = None,
        late_until: str | None = None,
        single_editor: bool | None = None,
        anonymous: bool | None = None,
        role: discord.Role | None = None,
        channel: discord.TextChannel | None = None,
        reminders: str | None = None,
        parts: str | None = None,
        max_uploads: app_commands.Range[int, 1, 100_000] | None = None,
        max_storage_mb: app_commands.Range[float, 0.01, None] | None = None,
        event: bool | None = None,
        all_must_confirm: bool | None = None,
    ) -> None:
        """Create an assignment (times: YYYY-MM-DD HH:MM, ISO 8601, or +2h / in 90 minutes).

        Args:
            name: The assignment's name, unique in this server
            closes: The deadline
            opens: When uploads open (default: now)
            mode: How groups form: predefined by staff, open with a PIN, or PIN plus password
            auto_submit: Hand in the latest upload at the deadline (default: true)
            submit_once: A hand-in is final at once (default: false)
            max_group_size: The most members a group may have
            max_file_mb: The largest file in MiB (default: 10)
            file_types: Allowed extensions, comma-separated, e.g. pdf,zip (default: any)
            late_until: Accept late uploads until this time, flagged late
            single_editor: Only one member may upload at a time, for 10 minutes (default: false)
            anonymous: Graders see candidate numbers, not names (default: true)
            role: Only members with this role take part
            channel: Where announcements and reminders go (default: this channel)
            reminders: Reminders before the deadline, e.g. 24h,1h or off (default: 24h,1h)
            parts: Hand-in parts with their file types, e.g. report:pdf; code:zip,tar.gz
            max_uploads: The most uploads per group (default: 200)
            max_storage_mb: The most MiB stored per group, every upload counted (default: 500)
            event: Show the deadline in the server's Events calendar (default: true)
            all_must_confirm: Every member must agree to the hand-in (implies auto_submit false)
        """
        options = _options(
            closes, opens, mode, auto_submit, submit_once, max_group_size, max_file_mb,
            file_types, late_until, single_editor, anonymous, role, channel, reminders,
            max_uploads, max_storage_mb, parts,
        )  # fmt: skip
        options = dataclasses.replace(options, all_must_confirm=all_must_confirm)
        created = await self.services.assignments.create(
            guild_id_of(interaction),
            actor_of(interaction),
            name,
            options,
            sent_at=interaction.created_at,
            upload_limit_bytes=interaction.filesize_limit,
            default_channel_id=interaction.channel_id,
        )
        if event is not None:
            await self.services.calendar.want(created.id, event)
        notice = await follow_deadline(
            self.services, interaction.guild, created.id, await self.locale(interaction)
        )
        await respond(
            interaction, notice, embed=await self._summary(interaction, created, "created")
        )

    @assignment.command(name="edit")
    async def edit(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        closes: str | None = None,
        opens: str | None = None,
        mode: Mode | None = None,
        auto_submit: bool | None = None,
        submit_once: bool | None = None,
        max_group_size: app_commands.Range[int, 1, 1000] | None = None,
        max_file_mb: float | None = None,
        file_types: str | None = None,
        late_until: str | None = None,
        single_editor: bool | None = None,
        anonymous: bool | None = None,
        role: discord.Role | None = None,
        channel: discord.TextChannel | None = None,
        reminders: str | None = None,
        parts: str | None = None,
        max_uploads: app_commands.Range[int, 1, 100_000] | None = None,
        max_storage_mb: app_commands.Range[float, 0.01, None] | None = None,
        event: bool | None = None,
        all_must_confirm: bool | None = None,
    ) -> None:
        """Change an assignment's settings; refuses changes that would break recorded data.

        Args:
            name: The assignment
            closes: The new deadline
            opens: When uploads open
            mode: How groups form (only while no group exists)
            auto_submit: Hand in the latest upload at the deadline
            submit_once: A hand-in is final at once
            max_group_size: The most members a group may have
            max_file_mb: The largest file in MiB
            file_types: Allowed extensions, comma-separated, or any
            late_until: Accept late uploads until this time (off to remove)
            single_editor: Only one member may upload at a time
            anonymous: Graders see candidate numbers, not names (locked after an export)
            role: Only members with this role take part
            channel: Where announcements and reminders go
            reminders: Reminders before the deadline, e.g. 24h,1h or off
            parts: Hand-in parts, e.g. report:pdf; code:zip (none to remove; kept once used)
            max_uploads: The most uploads per group
            max_storage_mb: The most MiB stored per group, every upload counted
            event: Show the deadline in the server's Events calendar
            all_must_confirm: Every member must agree to the hand-in (locked once one handed in)
        """
        options = _options(
            closes, opens, mode, auto_submit, submit_once, max_group_size, max_file_mb,
            file_types, late_until, single_editor, anonymous, role, channel, reminders,
            max_uploads, max_storage_mb, parts,
        )  # fmt: skip
        options = dataclasses.replace(options, all_must_confirm=all_must_confirm)
        edited = await self.services.assignments.edit(
            guild_id_of(interaction),
            actor_of(interaction),
            name,
            options,
            sent_at=interaction.created_at,
            upload_limit_bytes=interaction.filesize_limit,
        )
        if event is not None:
            await self.services.calendar.want(edited.id, event)
        notice = await follow_deadline(
            self.services, interaction.guild, edited.id, await self.locale(interaction)
        )
        await respond(interaction, notice, embed=await self._summary(interaction, edited, "edited"))

    async def _summary(
        self, interaction: discord.Interaction[Any], assignment: Assignment, what: str
    ) -> discord.Embed:
        locale = await self.locale(interaction)
        embed = discord.Embed(
            title=t(locale, f"assignment.{what}", name=assignment.name), colour=INFO
        )
        embed.add_field(
            name=t(locale, "ready.deadline"), value=deadline_text(locale, assignment), inline=False
        )
        embed.add_field(
            name=t(locale, "ready.rules"), value=rules_text(locale, assignment), inline=False
        )
        reminders = ", ".join(format_offset(r) for r in assignment.reminders) or t(locale, "off")
        embed.add_field(name=t(locale, "assignment.reminders"), value=reminders)
        embed.add_field(
            name=t(locale, "assignment.anonymous"),
            value=t(locale, "yes" if assignment.anonymous else "no"),
        )
        if assignment.channel_id:
            embed.add_field(
                name=t(locale, "assignment.channel"), value=f"<#{assignment.channel_id}>"
            )
        embed.set_footer(text=t(locale, "assignment.next_steps"))
        return embed

    @assignment.command(name="list")
    async def list_(self, interaction: discord.Interaction[Any]) -> None:
        """All assignments with their state and counts."""
        rows = await self.services.assignments.list_for_staff(
            guild_id_of(interaction), actor_of(interaction)
        )
        locale = await self.locale(interaction)
        now = self.services.clock.now()
        purged = await self.services.purge.purged_in(guild_id_of(interaction))
        lines = [
            t(locale, "assignment.list_purged", name=a.name, at=purged[a.id])
            if a.id in purged
            else t(
                locale,
                "assignment.list_line",
                name=a.name,
                state=t(locale, f"state.{a.state(now).value}"),
                deadline=timestamp(a.closes_at),
                candidates=tn(locale, "count.candidates", c.candidates),
                groups=tn(locale, "count.groups", c.groups),
                with_uploads=tn(locale, "count.with_uploads", c.groups_with_uploads),
                submissions=tn(locale, "count.submissions", c.submissions),
            )
            for a, c in rows
        ]
        pages = line_pages(
            t(locale, "assignment.list_title"),
            lines,
            colour=INFO,
            empty=t(locale, "assignment.list_empty"),
        )
        csv_rows = [
            (
                a.name,
                "purged" if a.id in purged else a.state(now).value,
                iso_utc(a.closes_at),
                c.candidates,
                c.groups,
                c.groups_with_uploads,
                c.submissions,
            )
            for a, c in rows
        ]
        await send_pages(
            interaction,
            pages,
            locale=locale,
            file=csv_file("assignment-list.csv", ASSIGNMENTS_CSV_HEADER, csv_rows),
        )

    @assignment.command(name="overview")
    async def overview(self, interaction: discord.Interaction[Any], name: str) -> None:
        """Candidates, groups, uploads, hand-ins and who has no group.

        Args:
            name: The assignment
        """
        await interaction.response.defer(ephemeral=True)
        overview = await self.services.assignments.overview(
            guild_id_of(interaction), actor_of(interaction), name, people_of(interaction.guild)
        )
        locale = await self.locale(interaction)
        pages = overview_pages(locale, overview)
        png = await render_png(chart_data(locale, overview))
        pages[0].set_image(url=f"attachment://{CHART_FILE}")
        await send_pages(
            interaction,
            pages,
            locale=locale,
            files=[overview_csv(overview), discord.File(io.BytesIO(png), filename=CHART_FILE)],
        )

    @assignment.command(name="close")
    async def close(self, interaction: discord.Interaction[Any], name: str) -> None:
        """Close the assignment now and record every group's final submission.

        Args:
            name: The assignment
        """
        # Nothing changes yet: staff confirm with the button (cogs/_buttons.py closes).
        assignment = await self.services.assignments.check_close(
            guild_id_of(interaction), actor_of(interaction), name, sent_at=interaction.created_at
        )
        locale = await self.locale(interaction)
        await respond(
            interaction,
            t(locale, "confirm.close_prompt", name=assignment.name),
            view=close_prompt(locale, assignment, interaction.user.id),
        )

    @assignment.command(name="reopen")
    async def reopen(self, interaction: discord.Interaction[Any], name: str, closes: str) -> None:
        """Reopen a closed assignment with a new deadline.

        Args:
            name: The assignment
            closes: The new deadline
        """
        # Nothing changes yet: staff confirm with the button (cogs/_buttons.py reopens).
        assignment, new_closes = await self.services.assignments.check_reopen(
            guild_id_of(interaction),
            actor_of(interaction),
            name,
            closes,
            sent_at=interaction.created_at,
        )
        locale = await self.locale(interaction)
        await respond(
            interaction,
            t(locale, "confirm.reopen_prompt", name=assignment.name, closes=new_closes),
            view=reopen_prompt(locale, assignment, interaction.user.id, new_closes),
        )

    @assignment.command(name="extend")
    async def extend(
        self, interaction: discord.Interaction[Any], name: str, pin: str, closes: str
    ) -> None:
        """Give one group its own, later deadline.

        Args:
            name: The assignment
            pin: The group's PIN
            closes: The group's new deadline
        """
        await interaction.response.defer(ephemeral=True)
        assignment, group = await self.services.assignments.extend(
            guild_id_of(interaction),
            actor_of(interaction),
            name,
            pin,
            closes,
            sent_at=interaction.created_at,
        )
        await self.say(
            interaction,
            "assignment.extended",
            name=assignment.name,
            pin=group.pin,
            closes=group.closes_at,
        )

    @assignment.command(name="announce")
    async def announce(
        self,
        interaction: discord.Interaction[Any],
        name: str,
        # An embed's description holds 4,096; Discord's client refuses a longer option.
        message: app_commands.Range[str, 1, ANNOUNCE_LIMIT] | None = None,
    ) -> None:
        """Post the deadline and the rules in the assignment's channel.

        Args:
            name: The assignment
            message: A note from staff to add to the announcement
        """
        assignment = await self.services.assignments.for_staff(
            guild_id_of(interaction), actor_of(interaction), name
        )
        locale = await self.locale(interaction)
        guild_locale = (await self.services.settings.get(guild_id_of(interaction))).locale
        embed = announcement_embed(guild_locale, assignment, message)
        channel = (
            interaction.guild.get_channel(assignment.channel_id)
            if (interaction.guild and assignment.channel_id)
            else interaction.channel
        )
        if not isinstance(channel, discord.abc.Messageable):
            channel = interaction.channel
        assert isinstance(channel, discord.abc.Messageable)
        where = getattr(channel, "mention", "")
        try:
            await channel.send(embed=embed, **_role_ping(assignment.role_id))
        except discord.Forbidden as exc:
            raise CannotPostError(channel=where) from exc
        await respond(interaction, t(locale, "assignment.announced", channel=where))

    @assignment.command(name="purge")
    async def purge(self, interaction: discord.Interaction[Any], name: str) -> None:
        """Delete a closed assignment's files and students' data for good (asks first).

        Args:
            name: The assignment
        """
        # Nothing changes yet: staff confirm with the button (cogs/_buttons.py purges).
        check = await self.services.purge.check(
            guild_id_of(interaction), actor_of(interaction), name
        )
        locale = await self.locale(interaction)
        text = t(locale, "confirm.purge_prompt", name=check.assignment.name)
        if not check.exported:
            text += "\n" + t(locale, "confirm.purge_never_exported")
        await respond(
            interaction, text, view=purge_prompt(locale, check.assignment, interaction.user.id)
        )

    @edit.autocomplete("name")
    @purge.autocomplete("name")
    @overview.autocomplete("name")
    @close.autocomplete("name")
    @reopen.autocomplete("name")
    @extend.autocomplete("name")
    @announce.autocomplete("name")
    async def _name(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return await assignment_choices(self.services, interaction, current, staff=True)

    @extend.autocomplete("pin")
    async def _pin(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        # Staff only (the groups' PINs are never offered to students).
        name = str(getattr(interaction.namespace, "name", "") or "")
        if interaction.guild_id is None or not name:
            return []
        pins = await self.services.groups.pins_of(interaction.guild_id, actor_of(interaction), name)
        return [app_commands.Choice(name=p, value=p) for p in pins if p.startswith(current)][:25]


def announcement_embed(locale: str, assignment: Assignment, message: str | None) -> discord.Embed:
    embed = discord.Embed(
        title=t(locale, "announce.title", name=assignment.name),
        description=message or None,
        colour=INFO,
    )
    embed.add_field(
        name=t(locale, "ready.deadline"), value=deadline_text(locale, assignment), inline=False
    )
    embed.add_field(
        name=t(locale, "announce.how"),
        value=t(locale, f"ready.how.{assignment.group_mode.value}", name=assignment.name),
        inline=False,
    )
    embed.add_field(
        name=t(locale, "ready.rules"), value=rules_text(locale, assignment), inline=False
    )
    embed.set_footer(text=t(locale, "announce.footer", name=assignment.name))
    return embed


def _role_ping(role_id: int | None) -> dict[str, Any]:
    """An announcement of a role's assignment pings that role, and nobody else: the one
    message the bot sends that is meant to notify (the client mentions nobody by default)."""
    if role_id is None:
        return {}
    return {
        "content": f"<@&{role_id}>",
        "allowed_mentions": discord.AllowedMentions(
            everyone=False, users=False, roles=[discord.Object(id=role_id)]
        ),
    }
