"""Backups of a live data folder and their restore: consistent, complete, checked, private."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bot import paths
from bot.services.registry import Services, build_services
from storage.backup import MANIFEST, BackupError, backup, restore
from storage.db import Database, fetch_all
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import GUILD, STAFF, RecordingNotifier, incoming, make_assignment, sha, student
from tests.filestore import stored_path
from tests.modes import exposed
from tests.snapshot import unchanged

# SQLite's online backup of a data folder (PostgreSQL: pg_dump, see the README).
pytestmark = pytest.mark.sqlite_only

LAB = "Lab 1"
STUDENTS = [student(n) for n in range(1, 13)]


async def with_groups(services: Services) -> None:
    await make_assignment(services, LAB, closes="+2h")
    for n, who in enumerate(STUDENTS):
        await services.groups.create(GUILD, who, LAB, f"{1000 + n}", sent_at=services.clock.now())


async def upload_all(services: Services, rounds: int) -> None:
    for round_ in range(rounds):
        await asyncio.gather(
            *(
                services.submissions.upload(
                    GUILD,
                    who,
                    LAB,
                    incoming(f"{who.user_id} round {round_} ".encode() * 500),
                    sent_at=services.clock.now(),
                )
                for who in STUDENTS
            )
        )


def staging_folders(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".restored")]


def restore_into(backup_dir: Path, data_dir: Path) -> int:
    return restore(backup_dir, paths.database_path(data_dir), paths.files_dir(data_dir))


async def export_of(data_dir: Path, clock: FakeClock, out: Path) -> dict[str, bytes]:
    db = await Database.open(paths.database_path(data_dir), durable=False)
    try:
        services = build_services(
            db, FileStore(paths.files_dir(data_dir)), clock, RecordingNotifier()
        )
        result = await services.exports.export(GUILD, STAFF, LAB, out)
    finally:
        await db.close()
    with zipfile.ZipFile(io.BytesIO(result.path.read_bytes())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


async def test_a_backup_during_uploads_is_a_consistent_snapshot(
    services: Services, db: Database, tmp_path: Path
) -> None:
    await with_groups(services)
    await upload_all(services, 1)
    target = tmp_path / "backup"
    uploading = asyncio.create_task(upload_all(services, 4))
    report = await asyncio.to_thread(backup, db.path, services.files.root, target)  # type: ignore[arg-type]
    await uploading
    assert report.damaged == [] and report.files >= len(STUDENTS)

    restored = tmp_path / "restored"
    assert restore_into(target, restored) == report.files
    copy = await Database.open(paths.database_path(restored), durable=False)
    try:
        rows = await fetch_all(copy.conn, "SELECT id, sha256 FROM uploads ORDER BY id")
    finally:
        await copy.close()
    originals = {
        row["id"]: row["sha256"]
        for row in await fetch_all(db.conn, "SELECT id, sha256 FROM uploads")
    }
    # A snapshot: the uploads up to some moment, each with its bytes.
    assert len(rows) >= len(STUDENTS)
    assert [row["id"] for row in rows] == sorted(originals)[: len(rows)]
    for row in rows:
        assert originals[row["id"]] == row["sha256"]
        stored = paths.files_dir(restored) / row["sha256"][:2] / row["sha256"][2:]
        assert sha(stored.read_bytes()) == row["sha256"]
    assert exposed(target) == [] and exposed(restored) == []


async def test_a_restored_backup_exports_the_same_results(
    services: Services, db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await with_groups(services)
    await upload_all(services, 2)
    clock.advance(3 * 3600)
    await services.finalizer.finalize_due()
    backup(db.path, services.files.root, tmp_path / "backup")  # type: ignore[arg-type]
    restore_into(tmp_path / "backup", tmp_path / "restored")
    before = await export_of(tmp_path, clock, tmp_path / "out-before")
    after = await export_of(tmp_path / "restored", clock, tmp_path / "out-after")
    assert after == before
    assert len([name for name in before if name != "results.csv"]) == len(STUDENTS)


async def test_a_damaged_stored_file_is_left_out_and_named(
    services: Services, db: Database, tmp_path: Path
) -> None:
    await with_groups(services)
    await upload_all(services, 1)
    [row] = await fetch_all(db.conn, "SELECT sha256 FROM uploads LIMIT 1")
    damaged = stored_path(services.files, row["sha256"])
    damaged.write_bytes(b"bit rot")
    report = backup(db.path, services.files.root, tmp_path / "backup")  # type: ignore[arg-type]
    assert report.damaged == [row["sha256"]]
    assert report.files == len(STUDENTS) - 1


async def test_a_backup_into_a_folder_in_use_is_refused(
    services: Services, db: Database, tmp_path: Path
) -> None:
    target = tmp_path / "backup"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(BackupError, match="not empty"):
        backup(db.path, services.files.root, target)  # type: ignore[arg-type]
    assert [p.name for p in target.iterdir()] == ["keep.txt"]


async def test_a_restore_into_a_data_folder_in_use_is_refused_and_changes_nothing(
    services: Services, db: Database, tmp_path: Path
) -> None:
    await with_groups(services)
    await upload_all(services, 1)
    backup(db.path, services.files.root, tmp_path / "backup")  # type: ignore[arg-type]
    async with unchanged(db, services.files):
        with pytest.raises(BackupError, match="not empty"):
            restore_into(tmp_path / "backup", tmp_path)


async def test_a_damaged_backup_restores_nothing(
    services: Services, db: Database, tmp_path: Path
) -> None:
    await with_groups(services)
    await upload_all(services, 1)
    source = tmp_path / "backup"
    backup(db.path, services.files.root, source)  # type: ignore[arg-type]
    one = next(p for p in (source / "files").rglob("*") if p.is_file())
    one.unlink()
    one.write_bytes(b"not what the manifest says")  # a copy, not the linked original
    with pytest.raises(BackupError, match="damaged"):
        restore_into(source, tmp_path / "restored")
    assert not (tmp_path / "restored").exists()
    assert staging_folders(tmp_path) == []


def test_a_folder_without_a_manifest_is_not_a_backup(tmp_path: Path) -> None:
    (tmp_path / "backup").mkdir()
    with pytest.raises(BackupError, match=MANIFEST):
        restore_into(tmp_path / "backup", tmp_path / "restored")
    assert not (tmp_path / "restored").exists()


async def test_the_command_line_backs_up_and_restores(
    services: Services, db: Database, tmp_path: Path
) -> None:
    await with_groups(services)
    await upload_all(services, 1)

    def tool(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "HANDIN_DATA_DIR": str(data_dir)}
        env.pop("DISCORD_TOKEN", None)
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    made = tool("backup", str(tmp_path / "backup"), data_dir=tmp_path)
    assert made.returncode == 0, made.stderr
    assert f"{len(STUDENTS)} files" in made.stdout
    again = tool("backup", str(tmp_path / "backup"), data_dir=tmp_path)
    assert again.returncode == 1 and "not empty" in again.stderr
    back = tool("restore", str(tmp_path / "backup"), data_dir=tmp_path / "restored")
    assert back.returncode == 0, back.stderr
    assert paths.database_path(tmp_path / "restored").is_file()
    usage = tool("restore", data_dir=tmp_path / "other")
    assert usage.returncode == 2 and "dir" in usage.stderr
