"""What every cog shares: who is acting, in which locale, and how to answer."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.domain.models import Actor, Person
from bot.i18n import pick_locale, t
from bot.services.registry import Services

# Discord's colours for the three moods of a reply.
INFO = discord.Colour.blurple()
GOOD = discord.Colour.green()
WARN = discord.Colour.orange()


def actor_of(interaction: discord.Interaction[Any]) -> Actor:
    user = interaction.user
    if isinstance(user, discord.Member):
        return Actor(
            user_id=user.id,
            display_name=user.display_name,
            role_ids=frozenset(role.id for role in user.roles),
            can_manage_guild=user.guild_permissions.manage_guild
            or interaction.permissions.manage_guild,
        )
    return Actor(user_id=user.id, display_name=user.display_name)


def person_of(member: discord.Member | discord.User) -> Person:
    roles = (
        frozenset(r.id for r in member.roles) if isinstance(member, discord.Member) else frozenset()
    )
    return Person(
        user_id=member.id,
        username=member.name,
        global_name=member.global_name,
        nick=member.nick if isinstance(member, discord.Member) else None,
        role_ids=roles,
    )


def people_of(guild: discord.Guild | None) -> list[Person]:
    return [] if guild is None else [person_of(m) for m in guild.members if not m.bot]


def guild_id_of(interaction: discord.Interaction[Any]) -> int:
    # Every command is guild-only; the tree refuses the rest before a handler runs.
    assert interaction.guild_id is not None
    return interaction.guild_id


async def locale_of(services: Services, interaction: discord.Interaction[Any]) -> str:
    guild_default = None
    if interaction.guild_id is not None:
        guild_default = (await services.settings.get(interaction.guild_id)).locale
    return pick_locale(interaction.locale.value, guild_default)


async def respond(
    interaction: discord.Interaction[Any],
    content: str | None = None,
    *,
    embed: discord.Embed | None = None,
    file: discord.File | None = None,
    files: list[discord.File] | None = None,
    view: discord.ui.View | None = None,
    ephemeral: bool = True,
) -> None:
    """Answer the interaction whether or not it was deferred (a follow-up after a defer)."""
    kwargs: dict[str, Any] = {"content": content, "ephemeral": ephemeral}
    if embed is not None:
        kwargs["embed"] = embed
    if file is not None:
        kwargs["file"] = file
    if files:
        kwargs["files"] = files
    if view is not None:
        kwargs["view"] = view
    if interaction.response.is_done():
        await interaction.followup.send(**kwargs)
    else:
        await interaction.response.send_message(**kwargs)


class HandinCog(commands.Cog):
    """Base of our cogs: the services, the reply locale and a `say` for one-line answers."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def locale(self, interaction: discord.Interaction[Any]) -> str:
        return await locale_of(self.services, interaction)

    async def text(self, interaction: discord.Interaction[Any], key: str, **params: Any) -> str:
        return t(await self.locale(interaction), key, **params)

    async def say(self, interaction: discord.Interaction[Any], key: str, **params: Any) -> None:
        await respond(interaction, await self.text(interaction, key, **params))


async def assignment_choices(
    services: Services, interaction: discord.Interaction[Any], current: str, *, staff: bool
) -> list[app_commands.Choice[str]]:
    """Autocomplete: the guild's assignments this user may act on, matching what is typed."""
    if interaction.guild_id is None:
        return []
    names = await services.assignments.names_for(
        interaction.guild_id, actor_of(interaction), current, staff=staff
    )
    # Discord takes at most 25 choices of at most 100 characters: a longer name is offered
    # by its first 100 (the lookup matches a unique prefix), never sent as a reply.
    return [app_commands.Choice(name=name[:100], value=name[:100]) for name in names[:25]]
