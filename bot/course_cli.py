"""`python -m bot feedback import|release` and `python -m bot purge`: staff on the host.

They open the bot's database and file store as the export does, also while the bot runs, and
act as the trusted host (no staff check). `feedback release` records the DMs in the outbox: the
running bot sends them at its next delivery sweep (within about 30 s), or at its next start; a
tool cannot send DMs itself (it holds no gateway connection, and the bot is the one sender that
keeps each DM to exactly once)."""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import NoReturn, TypeVar

from bot import paths
from bot.config import Config, ConfigError
from bot.domain.clock import SystemClock
from bot.domain.errors import DomainError
from bot.domain.rules import MIB
from bot.export_cli import Refused, _check_guild, _database_file, _discord_id, _open
from bot.i18n import tn
from bot.services.feedback import FeedbackService, IncomingAttachment
from bot.services.ports import SilentNotifier, Wakeups
from bot.services.purge import PurgeService
from bot.stores import file_store
from bot.tree import render_error
from storage.db import Database

LOCALE = "en"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
# What Discord lets a bot attach by default: `/feedback show` must be able to send each file.
DEFAULT_FILE_LIMIT_MB = 10.0

T = TypeVar("T")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Refused(f"{message} (see {self.prog} --help)")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignment", help="assignment name (case-insensitive)")
    parser.add_argument(
        "--guild", required=True, type=_discord_id, help="the Discord server's id (Copy Server ID)"
    )


def _feedback_parser() -> _Parser:
    parser = _Parser(
        prog="python -m bot feedback",
        description="Import feedback for the groups (a draft) or release it to them by DM.",
    )
    tools = parser.add_subparsers(dest="action", required=True, parser_class=_Parser)
    imports = tools.add_parser("import", help="import a CSV group_pin,grade,comment (+ ZIP)")
    _common(imports)
    imports.add_argument("csv", type=Path, help="UTF-8 CSV: group_pin,grade,comment")
    imports.add_argument("zip", type=Path, nargs="?", help="ZIP of <PIN>/... files (optional)")
    imports.add_argument(
        "--file-limit-mb",
        type=float,
        default=DEFAULT_FILE_LIMIT_MB,
        help="the largest file students can be sent in the server (default: 10)",
    )
    release = tools.add_parser(
        "release", help="release the draft: the running bot DMs every member once"
    )
    _common(release)
    return parser


def _purge_parser() -> _Parser:
    parser = _Parser(
        prog="python -m bot purge",
        description="Delete a closed assignment's files and students' data for good.",
    )
    _common(parser)
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    return parser


def main_feedback(argv: list[str]) -> int:
    return _main("feedback", lambda: _feedback(_feedback_parser().parse_args(argv)))


def main_purge(argv: list[str]) -> int:
    return _main("purge", lambda: _purge(_purge_parser().parse_args(argv)))


def _main(tool: str, run: Callable[[], int]) -> int:
    try:
        return run()
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except (Refused, ConfigError) as exc:
        print(f"{tool}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except DomainError as exc:
        print(f"{tool}: {render_error(LOCALE, exc)}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as exc:
        print(f"{tool}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.Error as exc:
        print(f"{tool}: the database is busy or unreadable ({exc}); try again", file=sys.stderr)
        return EXIT_FAILED


async def _with_database(config: Config, work: Callable[[Database], Awaitable[T]]) -> T:
    db_file = _database_file(config)
    if db_file is not None and not db_file.is_file():
        raise Refused(f"no database at {db_file}: set HANDIN_DATA_DIR to the bot's data folder")
    db = await _open(config, db_file)
    try:
        return await work(db)
    finally:
        await db.close()


def _feedback(args: argparse.Namespace) -> int:
    config = Config.from_env(require_token=False)
    files = file_store(config.data_dir, config.files_url)

    async def work(db: Database) -> str:
        await _check_guild(db, args.guild)
        service = FeedbackService(db, files, SystemClock(), Wakeups())
        if args.action == "release":
            result = await service.release(args.guild, None, args.assignment)
            return (
                f"released {tn(LOCALE, 'count.groups', result.groups)}: "
                f"{result.deliveries} DMs queued; the running bot sends them within a minute "
                "(or at its next start)"
            )
        csv = IncomingAttachment.of(args.csv.name, args.csv.read_bytes())
        bundle = (
            None
            if args.zip is None
            else IncomingAttachment.of(args.zip.name, args.zip.read_bytes())
        )
        summary = await service.import_draft(
            args.guild, None, args.assignment, csv, bundle, file_limit=int(args.file_limit_mb * MIB)
        )
        return (
            f"draft saved: {tn(LOCALE, 'count.groups', summary.groups)}, "
            f"{tn(LOCALE, 'count.files', summary.files)}; nothing is sent until release"
        )

    print(asyncio.run(_with_database(config, work)))
    return EXIT_OK


def _purge(args: argparse.Namespace) -> int:
    config = Config.from_env(require_token=False)
    files = file_store(config.data_dir, config.files_url)

    def service(db: Database) -> PurgeService:
        exports = paths.exports_dir(config.data_dir)
        return PurgeService(db, files, SystemClock(), SilentNotifier(), exports_dir=exports)

    async def check(db: Database) -> bool:
        await _check_guild(db, args.guild)
        return (await service(db).check(args.guild, None, args.assignment)).exported

    exported = asyncio.run(_with_database(config, check))
    if not exported:
        print("purge: warning: it was never exported", file=sys.stderr)
    if not args.yes:
        if not sys.stdin.isatty():
            raise Refused("confirm with --yes (there is no terminal to ask)")
        answer = input(f"Purge {args.assignment!r} for good? Type yes: ")
        if answer.strip().lower() != "yes":
            print("purge: nothing changed", file=sys.stderr)
            return EXIT_REFUSED

    async def purge(db: Database) -> str:
        result = await service(db).purge(args.guild, None, args.assignment)
        files = tn(LOCALE, "count.files", result.files_deleted)
        text = f"purged {result.assignment.name}: {files} deleted"
        if not result.compacted:
            text += (
                "\nwarning: the database could not be compacted now (the bot held it): its"
                " free pages may keep deleted rows until the next purge, or run"
                " `sqlite3 <db> VACUUM` with the bot stopped"
            )
        return text

    print(asyncio.run(_with_database(config, purge)))
    return EXIT_OK
