"""`python -m bot backup DIR` and `python -m bot restore DIR`: the data folder, safely copied.

The backup runs while the bot runs (SQLite's online backup); the restore goes into a new or
empty data folder (HANDIN_DATA_DIR) while the bot is stopped, and the bot migrates it at its
next start. Exit 0 when done, 1 when something failed on the way (nothing half-done is kept
by a restore; a backup that met damaged stored files says which), 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

from bot import paths
from bot.config import Config, ConfigError
from storage.backup import BackupError, backup, restore

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def main_backup(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot backup",
        description="Copy the database (consistently, while the bot runs) and every stored file "
        "it references into DIR, with a manifest of their SHA-256 hashes. On the same file "
        "system the files are hard links: put DIR on another disk for a copy that survives it.",
    )
    parser.add_argument("dir", type=Path, help="a new or empty folder")
    args = parser.parse_args(argv)
    return _run("backup", lambda config: _backup(config, args.dir))


def main_restore(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot restore",
        description="Restore a backup made by `python -m bot backup` into the data folder "
        "(HANDIN_DATA_DIR), which must be new or empty; every hash is checked first.",
    )
    parser.add_argument("dir", type=Path, help="the backup folder")
    args = parser.parse_args(argv)
    return _run("restore", lambda config: _restore(args.dir, config))


def _backup(config: Config, dest: Path) -> int:
    if config.database_url and not config.database_url.lower().startswith("sqlite:"):
        print(
            "backup: the database is PostgreSQL: back it up with pg_dump (see the README,"
            " Backups); this backup copies a data folder's SQLite database and files",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    if config.files_url is not None:
        print(
            f"backup: the stored files are in {config.files_url}: keep them with the bucket's"
            " own versioning or replication; this backup copies data folders with local files",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    data_dir = config.data_dir
    report = backup(paths.database_path(data_dir), paths.files_dir(data_dir), dest)
    linked = f", {report.linked} as hard links" if report.linked else ""
    print(
        f"backed up the database and {report.files} files ({report.bytes} bytes{linked}) to {dest}"
    )
    if report.damaged:
        print(
            f"backup: {len(report.damaged)} stored files are damaged or missing and were left"
            f" out: {', '.join(report.damaged)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


def _restore(source: Path, config: Config) -> int:
    data_dir = config.data_dir
    count = restore(source, paths.database_path(data_dir), paths.files_dir(data_dir))
    print(f"restored the database and {count} files into {data_dir}")
    return EXIT_OK


def _run(what: str, work: Callable[[Config], int]) -> int:
    try:
        return work(Config.from_env(require_token=False))
    except ConfigError as exc:
        print(f"{what}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except BackupError as exc:
        print(f"{what}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (OSError, sqlite3.Error) as exc:
        print(f"{what}: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
