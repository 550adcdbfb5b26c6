"""/help: the commands this user may use, in their language, with one example each."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.help import HelpEntry, command_name, description, example, for_reader
from bot.i18n import t
from bot.services.common import is_staff
from cogs._common import INFO, HandinCog, actor_of, guild_id_of
from cogs._paging import Section, field_pages, send_pages


def _line(locale: str, entry: HelpEntry) -> str:
    return (
        f"**{command_name(locale, entry.command)}**: {description(locale, entry)}\n"
        f"`{example(locale, entry)}`"
    )


class HelpCog(HandinCog):
    @app_commands.command(name="help")
    @app_commands.guild_only()
    async def help(self, interaction: discord.Interaction[Any]) -> None:
        """The commands you may use, with an example of each."""
        settings = await self.services.settings.get(guild_id_of(interaction))
        staff = is_staff(actor_of(interaction), settings)
        locale = await self.locale(interaction)
        entries = for_reader(staff)
        sections = [
            Section(
                t(locale, "help.students"),
                "\n".join(_line(locale, e) for e in entries if not e.staff),
            )
        ]
        if staff:
            sections.append(
                Section(
                    t(locale, "help.staff"),
                    "\n".join(_line(locale, e) for e in entries if e.staff),
                )
            )
        pages = field_pages(
            t(locale, "help.title"),
            sections,
            colour=INFO,
            description=t(locale, "help.intro_staff" if staff else "help.intro"),
        )
        await send_pages(interaction, pages, locale=locale)
