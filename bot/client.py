"""The bot: `setup_hook` builds and wires everything (database, services, scheduler, cogs)."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot import paths
from bot.config import Config
from bot.domain.clock import Clock, SystemClock
from bot.i18n.translator import HandinTranslator
from bot.notify import DiscordNotifier
from bot.services.registry import Services, build_services
from bot.tree import HandinTree
from storage.db import Database
from storage.files import FileStore
from storage.migrate import migrate
from storage.repos import misc as misc_repo

log = logging.getLogger(__name__)

COMMANDS_HASH_KEY = "commands_hash"


def intents() -> discord.Intents:
    """Only what the bot needs: guilds (channels, roles) and members (the member list, for
    role-based candidates, CSV imports by name and random splits). No message content."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.members = True
    return wanted


class HandinBot(commands.Bot):
    services: Services
    notifier: DiscordNotifier

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        force_sync: bool = False,
        **client_options: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            tree_cls=HandinTree,
            help_command=None,
            **client_options,
        )
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.force_sync = force_sync
        self.scheduler: Any = None
        self.session: aiohttp.ClientSession | None = None
        self._db: Database | None = None

    async def setup_hook(self) -> None:
        data_dir = self.config.data_dir
        paths.secure_data_dir(data_dir)
        self._db = await Database.open(paths.database_path(data_dir))
        await migrate(self._db.conn)
        files = FileStore(paths.files_dir(data_dir))
        files.prepare()
        self.notifier = DiscordNotifier(self, self._guild_locale)
        self.services = build_services(
            self._db, files, self.clock, self.notifier, reserve=self.config.free_space_reserve
        )
        self.session = aiohttp.ClientSession()
        await self.tree.set_translator(HandinTranslator())
        from cogs import all_cogs

        for cog in all_cogs(self.services, self.session):
            await self.add_cog(cog)
        await self._start_scheduler()
        await self.sync_commands()

    async def _start_scheduler(self) -> None:
        from bot.scheduler import DeadlineScheduler

        # No grace for reminders: an offset already past when the deadline is set is skipped.
        self.scheduler = DeadlineScheduler.from_services(self.services, reminder_grace=timedelta(0))
        self.services.assignments.schedule = self.scheduler
        self.notifier.on_receipts_waiting = self.scheduler.wake_receipts
        await self.scheduler.start()

    async def _guild_locale(self, guild_id: int) -> str:
        return (await self.services.settings.get(guild_id)).locale

    async def commands_hash(self) -> str:
        translator = self.tree.translator
        assert translator is not None
        payload = [
            await command.get_translated_payload(self.tree, translator)
            for command in self.tree.get_commands()
        ]
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    async def sync_commands(self) -> bool:
        """Sync the slash commands only when their definitions changed (Discord limits creates
        to 200 a day per guild), or when asked with --sync."""
        current = await self.commands_hash()
        async with self.services.db.reading() as conn:
            stored = await misc_repo.get_state(conn, COMMANDS_HASH_KEY)
        if stored == current and not self.force_sync:
            log.info("slash commands unchanged; not syncing")
            return False
        await self.tree.sync()
        async with self.services.db.transaction() as conn:
            await misc_repo.set_state(conn, COMMANDS_HASH_KEY, current)
        log.info("slash commands synced")
        return True

    async def close(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.shutdown()
        if self.session is not None:
            await self.session.close()
        await super().close()
        if self._db is not None:
            await self._db.close()
            self._db = None
