"""Guild settings: /settings (Manage Server only)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n import SUPPORTED, language_name, t, tn
from cogs._common import HandinCog, actor_of, guild_id_of, respond


class SettingsCog(HandinCog):
    @app_commands.command(name="settings")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def settings(
        self,
        interaction: discord.Interaction[Any],
        staff_role: discord.Role | None = None,
        timezone: str | None = None,
        locale: str | None = None,
        retention_days: app_commands.Range[int, 0, 3650] | None = None,
    ) -> None:
        """Set the staff role, the time zone for typed times, and the server's language.

        Args:
            staff_role: Members with this role may use the staff commands
            timezone: The time zone staff times are read in, e.g. Europe/Oslo (default: UTC)
            locale: The language for replies when a user's own is not supported: en or no
            retention_days: Purge closed assignments this many days after closing (0: never)
        """
        updated = await self.services.settings.update(
            guild_id_of(interaction),
            actor_of(interaction),
            staff_role_id=None if staff_role is None else staff_role.id,
            timezone=timezone,
            locale=locale,
        )
        if retention_days is not None:
            await self.services.purge.set_retention(
                guild_id_of(interaction), actor_of(interaction), retention_days
            )
        reply_locale = await self.locale(interaction)
        role = f"<@&{updated.staff_role_id}>" if updated.staff_role_id else t(reply_locale, "none")
        text = t(
            reply_locale,
            "settings.saved",
            role=role,
            timezone=updated.timezone,
            locale=updated.locale,
        )
        # SPEC §9: the retention is shown whenever set, and on every save once it is on.
        days = await self.services.purge.retention(guild_id_of(interaction))
        if days is not None:
            text += "\n" + t(
                reply_locale, "settings.retention", days=tn(reply_locale, "count.days", days)
            )
        elif retention_days is not None:
            text += "\n" + t(reply_locale, "settings.retention_off")
        await respond(interaction, text)

    @settings.autocomplete("timezone")
    async def _timezone(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        import zoneinfo

        wanted = current.lower()
        zones = sorted(z for z in zoneinfo.available_timezones() if wanted in z.lower())
        return [app_commands.Choice(name=z, value=z) for z in zones[:25]]

    @settings.autocomplete("locale")
    async def _locale(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=language_name(code), value=code) for code in SUPPORTED]
