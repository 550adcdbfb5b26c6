"""The bot: `setup_hook` builds and wires everything (database, services, scheduler, cogs)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import signal
from typing import Any

import aiohttp
import discord
from discord.ext import commands

from bot import paths, signing
from bot.config import Config
from bot.domain.clock import Clock, SystemClock
from bot.i18n import pick_locale
from bot.i18n.translator import HandinTranslator
from bot.metrics import Gateway, Metrics, MetricsServer
from bot.services.downloads import DownloadPolicy
from bot.services.registry import Services, build_services
from bot.stores import file_store
from bot.tree import HandinTree, command_seconds
from cogs._notify import DiscordNotifier
from storage.connect import connect_database
from storage.db import Database
from storage.migrate import migrate
from storage.repos import misc as misc_repo

log = logging.getLogger(__name__)

COMMANDS_HASH_KEY = "commands_hash"
# A clean stop ends within 30 s: uploads in flight get most of it, queued DMs a little.
UPLOADS_STOP_SECONDS = 15.0
REPLIES_STOP_SECONDS = 3.0
NOTICES_STOP_SECONDS = 3.0
# discord.py runs each app command in a task of this name (app_commands/tree.py).
COMMAND_TASK_NAME = "CommandTree-invoker"
# The identify buckets' locks in the shared database ("hand" + the bucket), each held this long
# from an IDENTIFY: Discord's rate limit of session starts.
IDENTIFY_LOCKS = 0x68616E64
IDENTIFY_SECONDS = 5.0
# How often a sharded process re-reads every timer (another process's new deadlines).
REPLAN_SECONDS = 30.0


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
        sync_only: bool = False,
        download_policy: DownloadPolicy | None = None,
        handle_signals: bool = False,
        **client_options: Any,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents(),
            tree_cls=HandinTree,
            help_command=None,
            # Nobody is pinged unless a message says so on purpose.
            allowed_mentions=discord.AllowedMentions.none(),
            **client_options,
        )
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.force_sync = force_sync
        # `python -m bot sync`: build the command tree, sync it, and do nothing else.
        self.sync_only = sync_only
        self.download_policy = download_policy
        self.handle_signals = handle_signals
        self._closing: asyncio.Future[None] | None = None
        self._stop_task: asyncio.Task[None] | None = None
        self.scheduler: Any = None
        self.session: aiohttp.ClientSession | None = None
        self._db: Database | None = None
        self.metrics = Metrics()
        self.metrics_server: MetricsServer | None = None

    async def setup_hook(self) -> None:
        data_dir = self.config.data_dir
        paths.secure_data_dir(data_dir)
        self._db = await connect_database(self.config.database_url, paths.database_path(data_dir))
        await migrate(self._db)
        files = file_store(data_dir, self.config.files_url, prepare=True)
        signer = signing.load_signer(self.config.signing_key, data_dir, create=True)
        if self.config.sharded and self.config.signing_key is None:
            # Each host would make its own key in its own data folder, and /verify on one would
            # refuse the receipts another signed (SPEC §8): the README says to share one.
            log.warning(
                "several processes without HANDIN_SIGNING_KEY: processes on other hosts sign "
                "receipts with other keys; set the same HANDIN_SIGNING_KEY for every process"
            )
        self.notifier = DiscordNotifier(self, self._dm_locale)
        self.services = build_services(
            self._db,
            files,
            self.clock,
            self.notifier,
            download_policy=self.download_policy,
            reserve=self.config.free_space_reserve,
            instance=self.config.instance,
            signer=signer,
            exports_dir=paths.exports_dir(data_dir),
        )
        self.session = aiohttp.ClientSession()
        await self.tree.set_translator(HandinTranslator())
        from cogs import all_cogs, persistent_buttons

        for cog in all_cogs(self.services, self.session, paths.exports_dir(data_dir)):
            await self.add_cog(cog)
        # Buttons on messages sent before a restart still work: dispatched by custom_id.
        self.add_dynamic_items(*persistent_buttons())
        if self.sync_only:
            await self.sync_commands()
            return
        async with self._db.transaction() as conn:
            kept = await misc_repo.take_notices(conn)
            self.notifier.database_id = await misc_repo.database_id(conn)
        self.notifier.start(kept)
        await self._start_scheduler()
        await self._start_metrics()
        if self.config.sharded:
            # Several processes: the deploy step (`python -m bot sync`) syncs, once.
            await self._warn_if_not_synced()
        else:
            await self.sync_commands()
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, self._stop_soon, signum)

    async def _start_scheduler(self) -> None:
        from bot.scheduler import DeadlineScheduler

        # Other processes change assignments too: re-read the timers from the database.
        replan = REPLAN_SECONDS if self.config.sharded else None
        self.scheduler = DeadlineScheduler.from_services(self.services, replan_seconds=replan)
        await self.scheduler.start()

    async def _start_metrics(self) -> None:
        if self.config.metrics_port is None:
            return
        self.metrics_server = MetricsServer(
            self.metrics,
            self.services.health,
            self._gateway,
            host=self.config.metrics_host,
            port=self.config.metrics_port,
        )
        await self.metrics_server.start()

    def _gateway(self) -> Gateway:
        return Gateway(connected=self.is_ready() and not self.is_closed(), latency=self.latency)

    async def on_app_command_completion(
        self, interaction: discord.Interaction[Any], command: Any
    ) -> None:
        self.metrics.command_done(command.qualified_name, "ok", command_seconds(interaction))

    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        # Remembered for DMs, which speak the language of the user's latest interaction.
        self.services.user_locales.note(interaction.user.id, str(interaction.locale))

    async def _dm_locale(self, guild_id: int, user_id: int | None) -> str:
        user_locale = None if user_id is None else await self.services.user_locales.of(user_id)
        return pick_locale(user_locale, (await self.services.settings.get(guild_id)).locale)

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

    async def _warn_if_not_synced(self) -> None:
        async with self.services.db.reading() as conn:
            stored = await misc_repo.get_state(conn, COMMANDS_HASH_KEY)
        if stored != await self.commands_hash():
            log.warning("slash commands differ from the synced ones: run `python -m bot sync` once")

    def _stop_soon(self, signum: int) -> None:
        log.info("%s: stopping cleanly", signal.Signals(signum).name)
        self._stop_task = asyncio.create_task(self.close(), name="clean-stop")

    @property
    def stopping(self) -> bool:
        """A clean stop has begun: new commands are refused ("restarting")."""
        return self._closing is not None

    async def close(self) -> None:
        """A clean stop: refuse new commands, finish the uploads in flight and their replies,
        keep what is queued, then disconnect and close the database (within 30 s).

        Once: discord.py calls close again when the connection ends, and a second run would
        close the database under the first."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close_cleanly())
        await asyncio.shield(self._closing)

    async def _close_cleanly(self) -> None:
        try:
            await self._stop_work()
            # Last before disconnecting, so no reply is cut off by the closing connection.
            await _commands_finished(REPLIES_STOP_SECONDS)
            await super().close()
            if self.session is not None:
                await self.session.close()
        finally:
            # Whatever failed above: aiosqlite's thread is not a daemon, and an open connection
            # would keep the process alive after the stop.
            await self._close_database()

    async def _stop_work(self) -> None:
        if self._db is not None and hasattr(self, "services"):
            still = await self.services.submissions.stop(UPLOADS_STOP_SECONDS)
            if still:
                log.warning("%d uploads still running at the stop: not acknowledged", still)
        if self.scheduler is not None:
            await self.scheduler.shutdown()
            self.scheduler = None
        if hasattr(self, "notifier"):
            await self._keep_queued_dms()
        if self.metrics_server is not None:
            await self.metrics_server.stop()

    async def _close_database(self) -> None:
        if self._db is None:
            return
        db, self._db = self._db, None
        try:
            if hasattr(self, "services"):
                await self.services.user_locales.stop()
        finally:
            await db.close()

    async def _keep_queued_dms(self) -> None:
        kept = await self.notifier.stop(NOTICES_STOP_SECONDS)
        if kept and self._db is not None:
            async with self._db.transaction() as conn:
                await misc_repo.keep_notices(conn, kept, self.clock.now())
            log.info("%d queued DMs kept for the next start", len(kept))


async def _commands_finished(timeout: float) -> None:
    """Wait (a little) for commands still answering: an upload stored a moment ago should also
    reach its student as "Stored", and a late arrival its "restarting", before the connection
    closes. Commands keep arriving until then, so wait until none runs or time is up."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        running = [
            task
            for task in asyncio.all_tasks()
            if task.get_name() == COMMAND_TASK_NAME and task is not asyncio.current_task()
        ]
        left = deadline - asyncio.get_running_loop().time()
        if not running or left <= 0:
            return
        await asyncio.wait(running, timeout=left)


class ShardedHandinBot(HandinBot, commands.AutoShardedBot):
    """The bot serving HANDIN_SHARDS of HANDIN_SHARD_COUNT, one of several processes.

    Discord lets a bot start `max_concurrency` sessions per 5 s, one per bucket
    (`shard_id % max_concurrency`), across all its processes: the bucket's lock in the shared
    database is held for 5 s from each IDENTIFY.
    """

    def __init__(self, config: Config, **options: Any) -> None:
        assert config.shard_ids is not None and config.shard_count is not None
        super().__init__(
            config,
            shard_ids=list(config.shard_ids),
            shard_count=config.shard_count,
            **options,
        )
        self._max_concurrency: int | None = None

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        if shard_id is not None and self._db is not None:
            if self._max_concurrency is None:
                limits = await self.fetch_session_start_limits()
                self._max_concurrency = max(1, limits.max_concurrency)
            bucket = shard_id % self._max_concurrency
            if await self._db.hold_lock(IDENTIFY_LOCKS, bucket, IDENTIFY_SECONDS):
                log.info("shard %d identifies (bucket %d)", shard_id, bucket)
                return
        # One process (SQLite): discord.py's own pacing is enough.
        await super().before_identify_hook(shard_id, initial=initial)


def make_bot(config: Config, **options: Any) -> HandinBot:
    """The plain bot, or the sharded one when HANDIN_SHARDS is set."""
    if config.sharded:
        return ShardedHandinBot(config, **options)
    return HandinBot(config, **options)
