"""discord.py's Translator over our catalogs: command and option names and descriptions."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n import DEFAULT, LANGUAGES, catalog

# Discord locales we translate into, mapped to our catalogs. English comes from the commands'
# docstrings, so only the other languages are targets.
TARGETS = {
    discord_locale: language
    for discord_locale in discord.Locale
    for language, aliases in LANGUAGES.items()
    if language != DEFAULT and discord_locale.value in aliases
}


def command_key(context: app_commands.TranslationContextTypes) -> str | None:
    """The catalog key of a name or description: `cmd.<qualified name>.<what>`."""
    location = context.location
    data: Any = context.data
    loc = app_commands.TranslationContextLocation
    if location in (loc.command_name, loc.group_name):
        return f"cmd.{data.qualified_name}.name"
    if location in (loc.command_description, loc.group_description):
        return f"cmd.{data.qualified_name}.description"
    if location in (loc.parameter_name, loc.parameter_description):
        what = "name" if location is loc.parameter_name else "description"
        return f"cmd.{data.command.qualified_name}.opt.{data.name}.{what}"
    if location is loc.choice_name:
        return f"choice.{data.value}"
    return None


class HandinTranslator(app_commands.Translator):
    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        target = TARGETS.get(locale)
        key = command_key(context)
        if target is None or key is None:
            return None
        return catalog(target).get(key)
