"""The feedback embed (SPEC §7): what a member reads by DM and with `/feedback show`."""

from __future__ import annotations

import discord

from bot.domain.feedback import Feedback
from bot.domain.models import Assignment
from bot.i18n import human_size, t
from cogs._common import GOOD
from cogs._paging import add_long_field


def feedback_embed(locale: str, assignment: Assignment, feedback: Feedback) -> discord.Embed:
    # The comment is capped at import (bot/domain/feedback.py), so it fits the description.
    embed = discord.Embed(
        title=t(locale, "feedback.title", name=assignment.name),
        description=feedback.comment or None,
        colour=GOOD,
    )
    embed.add_field(name=t(locale, "group.pin"), value=f"`{feedback.pin}`")
    embed.add_field(name=t(locale, "feedback.grade"), value=feedback.grade or "—")
    if feedback.files:
        lines = [f"{f.filename} ({human_size(locale, f.size)})" for f in feedback.files]
        add_long_field(embed, t(locale, "feedback.files"), "\n".join(lines))
    return embed
