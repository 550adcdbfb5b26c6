"""`python -m bot export`: write an assignment's results ZIP from the command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
from pathlib import Path
from typing import NoReturn, TextIO

from bot import paths
from bot.config import Config, ConfigError
from bot.domain.clock import SystemClock
from bot.domain.errors import AmbiguousAssignmentError, AssignmentNotFoundError
from bot.i18n import tn
from bot.services.exports import ExportResult, ExportService
from bot.services.ports import StoredFiles
from bot.stores import file_store
from storage.connect import connect_database
from storage.db import Database, sqlite_path
from storage.repos import exports as export_repo

PROG = "python -m bot export"
# The command line speaks English, like its --help; counts still take their plural form.
LOCALE = "en"
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2


class Refused(Exception):
    """Bad arguments, an unknown guild or assignment, no database: one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage too; the contract is one line on stderr.
        raise Refused(f"{message} (see {PROG} --help)")


def _discord_id(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Discord id (digits only)")
    return int(text)


def _parser() -> _Parser:
    parser = _Parser(
        prog=PROG,
        description="Export an assignment's results for grading as a ZIP: results.csv (one row "
        "per group and per candidate without one) and each group's final file.",
    )
    parser.add_argument("assignment", help="assignment name (case-insensitive)")
    parser.add_argument(
        "--guild",
        required=True,
        type=_discord_id,
        help="the Discord server's id (with Developer Mode on: right-click the server, Copy "
        "Server ID)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for the ZIP, created if missing (default: <HANDIN_DATA_DIR>/exports)",
    )
    parser.add_argument(
        "--with-names",
        action="store_true",
        help="add candidates.csv (user ids and names) even when the assignment is anonymous",
    )
    return parser


class ProgressBar:
    """A one-line text bar redrawn in place; only for a terminal (a log file gets nothing)."""

    def __init__(self, stream: TextIO, width: int = 30) -> None:
        self._stream = stream
        self._width = width
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        filled = self._width * done // max(total, 1)
        bar = "#" * filled + "." * (self._width - filled)
        self._stream.write(f"\r[{bar}] {tn(LOCALE, 'cli.export.progress', total, done=done)}")
        self._stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()


def main(argv: list[str]) -> int:
    """Run the export; `argv` is what follows `export` on the command line.

    Prints the ZIP's path on stdout and exits 0 (damaged stored files are listed on stderr as
    warnings, and the ZIP marks them `corrupt`). Exits 2 with one line on stderr for bad
    arguments, a missing database, an unknown guild or assignment; 1 when writing fails.
    """
    try:
        args = _parser().parse_args(argv)
        config = Config.from_env(require_token=False)
        data_dir = config.data_dir
        out_dir: Path = args.out or paths.exports_dir(data_dir)
        db_file = _database_file(config)
        if db_file is None:
            _check_out(out_dir)
        else:
            _check_paths(db_file, out_dir)
        return asyncio.run(_run(args, config, db_file, out_dir))
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except (Refused, ConfigError) as exc:
        print(f"export: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as exc:
        print(f"export: could not write the export: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except sqlite3.Error as exc:
        # e.g. "database is locked" while the bot writes under load: one line, try again.
        print(f"export: the database is busy or unreadable ({exc}); try again", file=sys.stderr)
        return EXIT_FAILED


def _database_file(config: Config) -> Path | None:
    """The SQLite file the bot uses (HANDIN_DATABASE_URL or the data folder's); None for a
    PostgreSQL database."""
    url = config.database_url
    if not url:
        return paths.database_path(config.data_dir)
    if url.split(":", 1)[0].lower() == "sqlite":
        try:
            return sqlite_path(url)
        except ValueError as exc:
            raise Refused(str(exc)) from exc
    return None


def _check_out(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise Refused(f"--out {out_dir} is a file, not a folder")


def _check_paths(db_path: Path, out_dir: Path) -> None:
    # Database.open would create an empty database where none is: refuse before that.
    if not db_path.is_file():
        raise Refused(f"no database at {db_path}: set HANDIN_DATA_DIR to the bot's data folder")
    _check_out(out_dir)
    if _schema_version(db_path) == 0:
        raise Refused(f"{db_path} is not a hand-in database (it is empty)")


def _schema_version(db_path: Path) -> int:
    try:
        return export_repo.schema_version_of_file(db_path)
    except sqlite3.Error as exc:
        raise Refused(f"{db_path} is not a hand-in database: {exc}") from exc


async def _run(
    args: argparse.Namespace, config: Config, db_file: Path | None, out_dir: Path
) -> int:
    _quiet_logging()
    bar = ProgressBar(sys.stderr) if sys.stderr.isatty() else None
    files = file_store(config.data_dir, config.files_url)
    try:
        db = await _open(config, db_file)
        files = file_store(config.data_dir, config.files_url)
        result = await _export(args, db, files, out_dir, bar)
    finally:
        if bar is not None:
            bar.close()
    _report(result)
    return EXIT_OK


async def _open(config: Config, db_file: Path | None) -> Database:
    if db_file is None:
        assert config.database_url is not None
        try:
            return await connect_database(config.database_url, paths.database_path(config.data_dir))
        except Exception as exc:  # the driver's connection errors, a pool timeout
            raise Refused(f"cannot open the database: {exc}") from exc
    try:
        # The bot may be running: WAL lets this process read a consistent snapshot meanwhile,
        # and the only write (marking the assignment exported) waits on busy_timeout.
        return await Database.open(db_file)
    except sqlite3.Error as exc:
        raise Refused(f"cannot open the database {db_file}: {exc}") from exc


async def _export(
    args: argparse.Namespace,
    db: Database,
    files: StoredFiles,
    out_dir: Path,
    bar: ProgressBar | None,
) -> ExportResult:
    try:
        await _check_guild(db, args.guild)
        service = ExportService(db, files, SystemClock())
        return await service.export(
            args.guild, None, args.assignment, out_dir, with_names=args.with_names, progress=bar
        )
    except AssignmentNotFoundError as exc:
        raise Refused(f"unknown assignment {args.assignment!r} in guild {args.guild}") from exc
    except AmbiguousAssignmentError as exc:
        matches = exc.params.get("matches", "")
        raise Refused(f"{args.assignment!r} matches several assignments: {matches}") from exc
    finally:
        await db.close()


async def _check_guild(db: Database, guild_id: int) -> None:
    async with db.reading() as conn:
        known = await export_repo.guild_known(conn, guild_id)
    if not known:
        where = "the database" if db.path is None else str(db.path)
        raise Refused(f"unknown guild {guild_id}: it has no assignments in {where}")


def _quiet_logging() -> None:
    # Problems are reported below as one warning each; the service's log lines would repeat
    # them in another format. A caller that configured logging keeps its own setup.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.ERROR, format="export: %(message)s")


def _report(result: ExportResult) -> None:
    for problem in result.problems:
        print(f"export: warning: {problem}", file=sys.stderr)
    if result.snapshot:
        print(
            "export: note: the assignment (or a group) is still open: this is a snapshot,"
            " `pending` rows may change",
            file=sys.stderr,
        )
    print(result.path)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
