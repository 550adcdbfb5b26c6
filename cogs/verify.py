"""Checking a receipt code: /verify (staff)."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n import number, t, timestamp
from bot.services.receipt_codes import CheckedCode, Standing
from cogs._common import GOOD, WARN, HandinCog, actor_of, guild_id_of, respond


class VerifyCog(HandinCog):
    @app_commands.command(name="verify")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    async def verify(self, interaction: discord.Interaction[Any], receipt: str) -> None:
        """Check a receipt code: whether this bot issued it, and the hand-in it proves.

        Args:
            receipt: The receipt code, copied from a student's receipt
        """
        checked = await self.services.receipt_codes.verify(
            guild_id_of(interaction), actor_of(interaction), receipt
        )
        await respond(interaction, embed=checked_embed(await self.locale(interaction), checked))


def checked_embed(locale: str, checked: CheckedCode) -> discord.Embed:
    """A genuine code's fields, and whether the database still holds its file as handed in."""
    fields = checked.fields
    standing = checked.standing or Standing.MISSING
    embed = discord.Embed(
        title=t(locale, "verify.title", name=fields.assignment_name),
        description=t(locale, f"verify.standing.{standing.value}"),
        colour=GOOD if standing is Standing.CURRENT else WARN,
    )
    embed.add_field(name=t(locale, "group.pin"), value=f"`{fields.pin}`")
    if fields.part is not None:
        embed.add_field(name=t(locale, "verify.part"), value=f"`{fields.part}`")
    embed.add_field(name=t(locale, "receipt.file"), value=fields.filename, inline=False)
    embed.add_field(name=t(locale, "receipt.size"), value=f"{number(locale, fields.size)} B")
    embed.add_field(name="SHA-256", value=f"`{fields.sha256}`", inline=False)
    embed.add_field(name=t(locale, "receipt.sent"), value=timestamp(fields.sent_at))
    embed.add_field(name=t(locale, "verify.issued"), value=timestamp(fields.issued_at))
    embed.set_footer(
        text=t(locale, "verify.footer", assignment_id=fields.assignment_id, key_id=checked.key_id)
    )
    return embed
