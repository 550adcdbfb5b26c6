"""Backups of a live data folder, and their restore into an empty one.

A backup folder holds `handin.sqlite3` (a consistent copy made with SQLite's online backup
API while the bot goes on writing), `files/` (every stored file that copy references, hard
linked where the backup is on the same file system, else copied) and `manifest.json` (the
SHA-256 and size of the database copy and of every file). Everything is owner-only, like
the data folder. Restore checks every hash before anything becomes the new data folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from storage.files import fsync_path
from storage.private import DIR_MODE, FILE_MODE, make_private_dir, tighten

MANIFEST = "manifest.json"
FORMAT = 1
DATABASE = "handin.sqlite3"
FILES = "files"
BLOCK = 1 << 20


class BackupError(Exception):
    """The backup or restore cannot go on; the message says what to do."""


@dataclass
class BackupReport:
    files: int = 0
    linked: int = 0
    bytes: int = 0
    # Stored files whose bytes no longer match their name: left out and named here.
    damaged: list[str] = field(default_factory=list)


def backup(database: Path, files_root: Path, dest: Path) -> BackupReport:
    """Back up the database at `database` and the files under `files_root` into `dest`, a
    new or empty folder. The bot may keep running meanwhile."""
    if not database.is_file():
        raise BackupError(f"no database at {database}: set HANDIN_DATA_DIR to the data folder")
    _require_empty(dest, "backup folder")
    make_private_dir(dest)
    report = BackupReport()
    copy = dest / DATABASE
    _copy_database(database, copy)
    entries = []
    for sha256 in _referenced_files(copy):
        size = _place(files_root / _relative(sha256), dest / FILES / _relative(sha256), report)
        if size is None:
            report.damaged.append(sha256)
        else:
            entries.append({"sha256": sha256, "size": size})
    manifest = {
        "format": FORMAT,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": {"name": DATABASE, "sha256": _hash(copy), "size": copy.stat().st_size},
        "files": entries,
        "damaged": report.damaged,
    }
    _write_private(dest / MANIFEST, json.dumps(manifest, indent=1).encode())
    fsync_path(dest)
    return report


def restore(source: Path, database: Path, files_root: Path) -> int:
    """Restore the backup in `source` as the database at `database` and the files under
    `files_root`, both inside one new or empty data folder; return the number of files.

    Everything is checked against the manifest first, in a temporary folder beside the data
    folder, which takes its name only once complete: a failed restore leaves nothing behind.
    """
    manifest = _read_manifest(source)
    data_dir = database.parent
    if files_root.parent != data_dir:
        raise BackupError("the database and the files must live in the same data folder")
    _require_empty(data_dir, "data folder")
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restoring-", dir=data_dir.parent))
    try:
        tighten(staging, DIR_MODE)
        _restore_into(source, manifest, staging / database.name, staging / files_root.name)
        if data_dir.exists():
            data_dir.rmdir()  # empty, checked above
        staging.rename(data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_path(data_dir.parent)
    return len(manifest.files)


@dataclass(frozen=True, slots=True)
class _Entry:
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class _Manifest:
    database: _Entry
    files: list[_Entry]


def _restore_into(source: Path, manifest: _Manifest, database: Path, files: Path) -> None:
    _copy_checked(source / DATABASE, database, manifest.database)
    make_private_dir(files)
    for entry in manifest.files:
        relative = _relative(entry.sha256)
        _copy_checked(source / FILES / relative, files / relative, entry)


def _read_manifest(source: Path) -> _Manifest:
    path = source / MANIFEST
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{source} is not a backup: it has no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc
    try:
        if raw["format"] != FORMAT:
            raise ValueError(f"format {raw['format']!r}")
        return _Manifest(_entry(raw["database"]), [_entry(item) for item in raw["files"]])
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{path} is not a manifest this version can restore ({exc})") from None


def _entry(raw: dict[str, object]) -> _Entry:
    sha256, size = raw["sha256"], raw["size"]
    if not isinstance(sha256, str) or len(sha256) != 64 or not isinstance(size, int):
        raise ValueError(f"bad entry {raw!r}")
    return _Entry(sha256, size)


def _require_empty(folder: Path, what: str) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(f"the {what} {folder} is not empty: name a new or empty folder")


def _copy_database(database: Path, copy: Path) -> None:
    # The online backup reads one snapshot (a read transaction: under WAL the bot's writes go
    # on meanwhile) and writes it to a file that is owner-only from the start.
    _write_private(copy, b"")
    # Read-write, though it only reads: a read-only connection cannot open a WAL database
    # whose -shm file is missing (the bot stopped).
    source = sqlite3.connect(database, timeout=30)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
        # One file, no -wal beside it: the copy is complete in itself.
        target.execute("PRAGMA journal_mode=DELETE")
    finally:
        target.close()
        source.close()
    fsync_path(copy)


def _referenced_files(database: Path) -> list[str]:
    conn = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT DISTINCT sha256 FROM uploads ORDER BY sha256").fetchall()
    finally:
        conn.close()
    return [row[0] for row in rows]


def _place(stored: Path, target: Path, report: BackupReport) -> int | None:
    """Link (or copy) one stored file into the backup after checking its bytes; its size, or
    None when it is damaged or missing."""
    sha256 = target.parent.name + target.name
    if not stored.is_file() or _hash(stored) != sha256:
        return None
    make_private_dir(target.parent)
    try:
        os.link(stored, target)
        report.linked += 1
    except OSError:
        _copy_checked(stored, target, _Entry(sha256, stored.stat().st_size))
    report.files += 1
    size = target.stat().st_size
    report.bytes += size
    return size


def _copy_checked(source: Path, target: Path, expected: _Entry) -> None:
    """Copy `source` to a new owner-only `target`, hashing as it goes; raise BackupError (and
    keep nothing) when the bytes are not the ones the manifest names."""
    make_private_dir(target.parent)
    digest = hashlib.sha256()
    written = 0
    try:
        with source.open("rb") as reader, _open_new(target) as writer:
            for block in iter(lambda: reader.read(BLOCK), b""):
                digest.update(block)
                writer.write(block)
                written += len(block)
            writer.flush()
            os.fsync(writer.fileno())
    except FileNotFoundError:
        raise BackupError(f"{source} is missing: the backup is incomplete") from None
    if digest.hexdigest() != expected.sha256 or written != expected.size:
        target.unlink(missing_ok=True)
        raise BackupError(f"{source} does not match the manifest: the backup is damaged")


def _open_new(path: Path) -> BinaryIO:
    """A new file, owner-only from its first byte."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb")


def _write_private(path: Path, data: bytes) -> None:
    with _open_new(path) as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _relative(sha256: str) -> Path:
    return Path(sha256[:2]) / sha256[2:]
