"""The one place where exceptions from commands, views and modals become replies."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import discord
from discord import app_commands

from bot.domain.errors import (
    CsvImportError,
    DomainError,
    GuildOnlyError,
    RestartingError,
    StaffOnlyError,
)
from bot.i18n import DEFAULT, catalog, pick_locale, t, tn
from cogs._paging import CONTENT_LIMIT, split_text

log = logging.getLogger(__name__)


# Where `interaction.extras` keeps when the tree began handling the interaction.
STARTED = "handin_started"


def command_seconds(interaction: discord.Interaction[Any]) -> float:
    """How long the command has been running (for the metrics); 0 when not stamped."""
    started = interaction.extras.get(STARTED)
    return 0.0 if started is None else time.monotonic() - started


class HandinTree(app_commands.CommandTree[Any]):
    async def interaction_check(self, interaction: discord.Interaction[Any], /) -> bool:
        interaction.extras.setdefault(STARTED, time.monotonic())
        if interaction.guild_id is None:
            # Discord hides guild-only commands in DMs; this covers clients that send them anyway.
            await report(interaction, GuildOnlyError())
            return False
        if getattr(interaction.client, "stopping", False):
            # A clean stop is under way: nothing new starts (the database closes soon).
            await report(interaction, RestartingError())
            return False
        return True

    async def on_error(
        self,
        interaction: discord.Interaction[Any],
        error: app_commands.AppCommandError | Exception,
        /,
    ) -> None:
        """Commands' errors, and (through cogs._paging.HandinView) views' and modals' too."""
        await report(interaction, error)


async def report(interaction: discord.Interaction[Any], error: BaseException) -> None:
    """Tell the user what went wrong, ephemerally, whether or not the reply was deferred."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    locale = await _locale(interaction)
    _count(interaction, original)
    if isinstance(original, DomainError):
        text = render_error(locale, original)
    elif isinstance(original, app_commands.CheckFailure):
        text = render_error(locale, StaffOnlyError())
    else:
        error_id = uuid.uuid4().hex[:8]
        command = interaction.command.qualified_name if interaction.command else "?"
        log.error(
            "error %s in /%s for user %s",
            error_id,
            command,
            interaction.user.id,
            exc_info=original,
        )
        text = t(locale, "error.unexpected", error_id=error_id)
    await _send(interaction, text)


def _count(interaction: discord.Interaction[Any], error: BaseException) -> None:
    metrics = getattr(interaction.client, "metrics", None)
    if metrics is None:
        return
    command = interaction.command.qualified_name if interaction.command else "(component)"
    if isinstance(error, DomainError | app_commands.CheckFailure):
        key = error.key if isinstance(error, DomainError) else StaffOnlyError.key
        metrics.refused(command, key)
        metrics.command_done(command, "refused", command_seconds(interaction))
    else:
        metrics.command_done(command, "error", command_seconds(interaction))


def render_error(locale: str, error: DomainError) -> str:
    text = t(locale, error.key, **_localized_params(locale, error.params))
    if isinstance(error, CsvImportError):
        lines = [
            t(locale, "csv.line", line=line, problem=t(locale, key, **params))
            for line, key, params in error.problems[:20]
        ]
        if len(error.problems) > 20:
            lines.append(tn(locale, "csv.more", len(error.problems) - 20))
        text = "\n".join([text, *lines])
    return text


def _localized_params(locale: str, params: dict[str, Any]) -> dict[str, Any]:
    """Option names and group modes as the reader's client shows them (`frist`, `åpen`)."""
    shown = dict(params)
    names = catalog(locale)
    if isinstance(params.get("option"), str):
        suffix = f".opt.{params['option']}.name"
        shown["option"] = next(
            (text for key, text in names.items() if key.endswith(suffix)), params["option"]
        )
    if isinstance(params.get("mode"), str):
        shown["mode"] = names.get(f"choice.{params['mode']}", params["mode"])
    return shown


async def _locale(interaction: discord.Interaction[Any]) -> str:
    services = getattr(interaction.client, "services", None)
    guild_default = None
    if services is not None and interaction.guild_id is not None:
        try:
            guild_default = (await services.settings.get(interaction.guild_id)).locale
        except Exception:  # the error path must not fail on a second error
            log.warning("could not read the guild locale while reporting an error")
    return pick_locale(getattr(interaction.locale, "value", DEFAULT), guild_default)


async def _send(interaction: discord.Interaction[Any], text: str) -> None:
    try:
        # Long names in a message can pass Discord's 2,000 characters: the rest follows.
        for part in split_text(text, CONTENT_LIMIT):
            if interaction.response.is_done():
                await interaction.followup.send(part, ephemeral=True)
            else:
                await interaction.response.send_message(part, ephemeral=True)
    except discord.HTTPException:
        # The interaction expired (15 minutes) or Discord refused: nothing more we can do here.
        log.warning("could not deliver an error reply for interaction %s", interaction.id)
