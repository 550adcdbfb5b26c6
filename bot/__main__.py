"""`python -m bot` runs the bot; `python -m bot demo` plays a course in the local sandbox;
`python -m bot export ...` exports results from the command line; `python -m bot verify ...`
checks a receipt code; `python -m bot sync` syncs the slash commands once (the deploy step
of a sharded bot)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

import discord

from bot import paths, signing
from bot.config import ENV_FILE, Config, ConfigError, readable_by_others
from bot.endpoints import point_client_at

if TYPE_CHECKING:
    from bot.client import HandinBot

log = logging.getLogger("bot")


# Only our own packages log below INFO: at DEBUG, discord.py logs every gateway event and HTTP
# body (what students type and are sent: PINs, passwords, interaction tokens) and aiosqlite
# every SQL statement with its parameters (convention 7: never log those).
OWN_LOGGERS = ("bot", "cogs", "storage")


def configure_logging(level: str) -> None:
    """HANDIN_LOG_LEVEL applies to our loggers; other libraries never log below INFO."""
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    wanted = logging.getLevelName(level)
    logging.getLogger().setLevel(max(wanted, logging.INFO))
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(wanted)


async def serve(bot: HandinBot, token: str) -> None:
    """Run until a signal or a lost login; then wait for the clean stop to finish (Client.run
    would return as soon as the connection closed, leaving the database open)."""
    async with bot:
        try:
            await bot.start(token)
        finally:
            await bot.close()


async def sync_once(bot: HandinBot, token: str) -> None:
    """Log in (which builds the command tree and, with `sync_only`, syncs it), then stop."""
    async with bot:
        await bot.login(token)


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop (HANDIN_EVENT_LOOP=uvloop, the default) where it is installed; None: the
    standard library's. uvloop does the sockets, the selector and the callbacks in C: in a
    deadline rush a third of the loop's time went to them (BENCHMARKS.md, issue #13)."""
    if name != "uvloop":
        return None
    try:
        import uvloop
    except ImportError:
        # Not on this platform (the dependency is for Linux and macOS only).
        return None
    return uvloop.new_event_loop


def run(*, sync: bool, sync_only: bool = False) -> int:
    """Run the bot until a signal stops it (or, `sync_only`, sync the slash commands once and
    exit); 2 when its configuration or Discord refuses."""
    try:
        config = Config.from_env()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    if readable_by_others(ENV_FILE):
        log.warning(
            "%s can be read by other accounts on this host and may hold DISCORD_TOKEN:"
            " run `chmod 600 %s`",
            ENV_FILE.resolve(),
            ENV_FILE,
        )
    try:
        paths.secure_data_dir(config.data_dir)
    except paths.DataDirError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        # Made (or checked) before connecting: a damaged key file is one line, not a traceback.
        signing.load_signer(config.signing_key, config.data_dir, create=True)
    except signing.SigningKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    point_client_at(config.api_base, config.gateway_url)
    from bot.client import make_bot

    # SIGTERM and SIGINT stop it cleanly (uploads in flight finish), then it exits 0.
    bot = make_bot(
        config, force_sync=sync or sync_only, sync_only=sync_only, handle_signals=not sync_only
    )
    factory = loop_factory(config.event_loop)
    log.info("event loop: %s", "asyncio" if factory is None else "uvloop")
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(sync_once(bot, config.token) if sync_only else serve(bot, config.token))
    except discord.LoginFailure:
        print(
            "error: Discord refused DISCORD_TOKEN: reset it in the Developer Portal",
            file=sys.stderr,
        )
        return 2
    except discord.PrivilegedIntentsRequired:
        print(
            "error: enable the Server Members Intent for the bot in the Developer Portal "
            "(Bot -> Privileged Gateway Intents)",
            file=sys.stderr,
        )
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Run Hand-in bot (no command), or one of its tools."
    )
    parser.add_argument(
        "--sync", action="store_true", help="sync slash commands even if they did not change"
    )
    commands = parser.add_subparsers(
        dest="command", metavar="{demo,export,backup,restore,verify,feedback,purge,sync}"
    )
    # Each tool parses its own options (`python -m bot demo --help`), and is imported only when
    # chosen: a running bot never loads the sandbox.
    commands.add_parser(
        "demo", add_help=False, help="play a short course against a stand-in for Discord"
    )
    commands.add_parser(
        "export", add_help=False, help="export an assignment's results and files (see its --help)"
    )
    commands.add_parser(
        "backup", add_help=False, help="back up the data folder, also while the bot runs"
    )
    commands.add_parser(
        "restore", add_help=False, help="restore a backup into a new or empty data folder"
    )
    commands.add_parser(
        "verify", add_help=False, help="check a receipt code, or print the public key"
    )
    commands.add_parser(
        "feedback", add_help=False, help="import feedback for the groups, or release it"
    )
    commands.add_parser(
        "purge", add_help=False, help="delete a closed assignment's students' data for good"
    )
    commands.add_parser(
        "sync",
        help="sync the slash commands with Discord once, then exit (the deploy step when"
        " several processes run with HANDIN_SHARDS)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.command is not None and args.sync:
        parser.error("--sync is an option of the bot itself, not of a tool")
    if args.command == "demo":
        from bot.demo import main as demo_main

        return asyncio.run(demo_main(rest))
    if args.command == "export":
        from bot.export_cli import main as export_main

        return export_main(rest)
    if args.command in ("backup", "restore"):
        from bot import backup_cli

        tool = backup_cli.main_backup if args.command == "backup" else backup_cli.main_restore
        return tool(rest)
    if args.command == "verify":
        from bot.verify_cli import main as verify_main

        return verify_main(rest)
    if args.command in ("feedback", "purge"):
        from bot import course_cli

        tool = course_cli.main_feedback if args.command == "feedback" else course_cli.main_purge
        return tool(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "sync":
        return run(sync=True, sync_only=True)
    return run(sync=args.sync)


if __name__ == "__main__":
    sys.exit(main())
