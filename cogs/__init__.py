"""Slash commands: thin adapters from Discord interactions to the services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot.services.registry import Services


def all_cogs(
    services: Services, session: aiohttp.ClientSession, exports_dir: Path
) -> list[commands.Cog]:
    """One cog per command family, each given the services it calls (and the exports
    folder, for the export)."""
    from cogs.export import ExportCog
    from cogs.groups import GroupsCog
    from cogs.help import HelpCog
    from cogs.settings import SettingsCog
    from cogs.staff_assignments import StaffAssignmentsCog
    from cogs.staff_groups import StaffGroupsCog
    from cogs.submissions import SubmissionsCog
    from cogs.verify import VerifyCog

    return [
        GroupsCog(services),
        SubmissionsCog(services, session),
        StaffAssignmentsCog(services),
        StaffGroupsCog(services),
        ExportCog(services, exports_dir),
        SettingsCog(services),
        HelpCog(services),
        VerifyCog(services),
    ]


def persistent_buttons() -> tuple[type[discord.ui.DynamicItem[Any]], ...]:
    """The buttons that survive a restart (the bot registers them at start-up)."""
    from cogs._buttons import DYNAMIC_ITEMS

    return DYNAMIC_ITEMS
