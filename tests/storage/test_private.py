"""Owner-only folders and files, whatever the umask: the database (and its WAL), the file store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.db import Database
from storage.files import FileStore
from storage.migrate import migrate
from storage.private import make_private_dir
from tests.modes import exposed, mode, umask


def test_private_dir_and_its_parents_are_created_owner_only_under_an_open_umask(
    tmp_path: Path,
) -> None:
    with umask(0):
        assert make_private_dir(tmp_path / "a" / "b") is False
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700


def test_private_dir_open_to_others_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o755)
    assert make_private_dir(folder) is True
    assert mode(folder) == 0o700
    assert make_private_dir(folder) is False


def test_a_folder_the_admin_chose_keeps_its_mode(tmp_path: Path) -> None:
    chosen = tmp_path / "grading"
    chosen.mkdir()
    chosen.chmod(0o755)
    assert make_private_dir(chosen, tighten_existing=False) is False
    assert mode(chosen) == 0o755


@pytest.mark.sqlite_only
async def test_database_wal_and_shm_are_owner_only_under_an_open_umask(tmp_path: Path) -> None:
    path = tmp_path / "handin.sqlite3"
    with umask(0):
        db = await Database.open(path, durable=False)
        try:
            await migrate(db)
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO bot_state (key, value) VALUES ('k', 'v')")
            # While the connection is open, SQLite keeps its WAL and shared-memory files.
            sidecars = [path.with_name(path.name + s) for s in ("-wal", "-shm")]
            assert all(p.exists() for p in sidecars)
            assert exposed(tmp_path) == []
        finally:
            await db.close()


@pytest.mark.sqlite_only
async def test_database_left_open_by_an_earlier_run_is_tightened(tmp_path: Path) -> None:
    path = tmp_path / "handin.sqlite3"
    db = await Database.open(path, durable=False)
    await db.close()
    path.chmod(0o644)
    db = await Database.open(path, durable=False)
    await db.close()
    assert mode(path) == 0o600


async def test_file_store_folders_temp_and_stored_files_are_owner_only(tmp_path: Path) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"a hand-in"

    with umask(0):
        store = FileStore(tmp_path / "files")
        store.prepare()
        received = await store.receive(chunks(), max_bytes=100)
        # The temp file is owner-only before it gets its final name.
        assert mode(received.temp) == 0o600
        [stored] = await store.publish_many([received])
    assert mode(stored.path) == 0o600
    assert exposed(tmp_path / "files") == []


async def test_file_store_tightens_a_folder_left_open(tmp_path: Path) -> None:
    root = tmp_path / "files"
    (root / "tmp").mkdir(parents=True)
    root.chmod(0o755)
    (root / "tmp").chmod(0o777)
    await asyncio.to_thread(FileStore(root).prepare)
    assert exposed(root) == []


@pytest.mark.parametrize("value", [0o022, 0o002, 0o000])
async def test_batch_publish_creates_owner_only_folders(tmp_path: Path, value: int) -> None:
    store = FileStore(tmp_path / "files")
    with umask(value):
        store.prepare()

        async def one(data: bytes) -> AsyncIterator[bytes]:
            yield data

        received = [await store.receive(one(d), max_bytes=10) for d in (b"one", b"two")]
        await store.publish_many(received)
    assert exposed(tmp_path / "files") == []
