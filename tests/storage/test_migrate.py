"""Migrations: applied once, in order, tracked by PRAGMA user_version."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from storage.connect import connect_database
from storage.db import Database, fetch_all, fetch_one
from storage.migrate import available, migrate
from tests import backends
from tests.backends import ON_POSTGRESQL


async def user_version(db: Database) -> int:
    row = await fetch_one(db.conn, "PRAGMA user_version")
    assert row is not None
    return int(row[0])


async def test_migrations_are_numbered_from_one_without_gaps() -> None:
    numbers = [number for number, _ in available()]
    assert numbers == list(range(1, len(numbers) + 1))


async def test_every_backend_has_every_migration() -> None:
    assert [n for n, _ in available("postgresql")] == [n for n, _ in available("sqlite")]


@pytest.mark.sqlite_only
async def test_migrate_sets_user_version_to_the_latest(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "fresh.sqlite3", durable=False)
    try:
        assert await user_version(db) == 0
        version = await migrate(db)
        assert version == len(available())
        assert await user_version(db) == version
    finally:
        await db.close()


@pytest.mark.sqlite_only
async def test_second_migrate_is_a_no_op(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "twice.sqlite3", durable=False)
    try:
        first = await migrate(db)
        await db.conn.execute(
            "INSERT INTO guild_settings (guild_id, timezone) VALUES (1, 'Europe/Oslo')"
        )
        schema = await fetch_all(db.conn, "SELECT type, name, sql FROM sqlite_master ORDER BY name")
        assert await migrate(db) == first
        assert await user_version(db) == first
        after = await fetch_all(db.conn, "SELECT type, name, sql FROM sqlite_master ORDER BY name")
        assert [tuple(r) for r in after] == [tuple(r) for r in schema]
        rows = await fetch_all(db.conn, "SELECT guild_id, timezone FROM guild_settings")
        assert [tuple(r) for r in rows] == [(1, "Europe/Oslo")]
    finally:
        await db.close()


@pytest.mark.sqlite_only
async def test_migrations_survive_reopening_the_database(tmp_path: Path) -> None:
    path = tmp_path / "reopen.sqlite3"
    db = await Database.open(path, durable=False)
    version = await migrate(db)
    await db.close()
    db = await Database.open(path, durable=False)
    try:
        assert await user_version(db) == version
        assert await migrate(db) == version
    finally:
        await db.close()


@pytest.mark.sqlite_only
async def test_foreign_keys_and_wal_are_on(db: Database) -> None:
    fk = await fetch_one(db.conn, "PRAGMA foreign_keys")
    mode = await fetch_one(db.conn, "PRAGMA journal_mode")
    assert fk is not None and fk[0] == 1
    assert mode is not None and mode[0] == "wal"


@pytest.mark.sqlite_only
async def test_assignments_made_before_the_quotas_get_the_default_quotas(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "old.sqlite3", durable=False)
    try:
        [(_, initial)] = [m for m in available() if m[0] == 1]
        await db.raw.executescript(f"BEGIN;\n{initial}\nPRAGMA user_version = 1;\nCOMMIT;")
        await db.conn.execute(
            "INSERT INTO assignments (guild_id, name, name_key, opens_at, closes_at, group_mode,"
            " created_by, created_at) VALUES (1, 'Lab', 'lab', '2026-01-01T00:00:00.000000Z',"
            " '2026-01-02T00:00:00.000000Z', 'open', 1, '2026-01-01T00:00:00.000000Z')"
        )
        await migrate(db)
        row = await fetch_one(db.conn, "SELECT max_uploads, max_storage_mb FROM assignments")
        assert row is not None and tuple(row) == (200, 500.0)
    finally:
        await db.close()


@pytest.mark.skipif(not ON_POSTGRESQL, reason="database roles: PostgreSQL")
async def test_a_role_with_only_dml_on_the_tables_starts_on_a_migrated_database(
    tmp_path: Path,
) -> None:
    # README's grants: the bot's role may read and write the tables, not create any.
    pg = backends.cluster()
    name = await asyncio.to_thread(pg.create_database)
    role = f"dml_{name}"
    try:
        with psycopg.connect(pg.url(name), autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN")
            admin.execute(
                f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"
            )
            admin.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}")
        url = pg.url(name).replace("postgresql://postgres@", f"postgresql://{role}@")
        db = await connect_database(url, tmp_path / "unused")
        try:
            assert await migrate(db) == max(number for number, _ in available())
        finally:
            await db.close()
    finally:
        await asyncio.to_thread(pg.drop_database, name)
        with psycopg.connect(pg.url("postgres"), autocommit=True) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {role}")
