"""Applies the numbered SQL migrations in storage/migrations.

A migration is `NNNN_name.sql`, shared by every backend, unless its SQL differs: then a file
`NNNN_name.<dialect>.sql` (`sqlite`, `postgresql`) beside it is what that backend runs instead
(the number is what counts, so the shared file may also be left out). SQLite tracks the version
in PRAGMA user_version, PostgreSQL in the table `schema_version`.
"""

from __future__ import annotations

import logging
import re
from importlib import resources

from storage.db import Database, SqliteDatabase

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+(?:\.([a-z]+))?\.sql$")
DIALECTS = ("sqlite", "postgresql")


def available(dialect: str = "sqlite") -> list[tuple[int, str]]:
    """The shipped migrations for `dialect` as (number, sql), in order; numbers must run 1, 2,
    3, ... and a number has at most one file per dialect."""
    shared: dict[int, str] = {}
    own: dict[int, str] = {}
    for entry in resources.files("storage.migrations").iterdir():
        match = _NAME.match(entry.name)
        if not match:
            continue
        number, suffix = int(match.group(1)), match.group(2)
        if suffix is not None and suffix not in DIALECTS:
            raise RuntimeError(f"migration {entry.name}: unknown dialect {suffix!r}")
        if suffix is not None and suffix != dialect:
            continue
        target = shared if suffix is None else own
        if number in target:
            raise RuntimeError(f"two migrations numbered {number:04d} for {dialect}")
        target[number] = entry.read_text(encoding="utf-8")
    found = sorted((shared | own).items())
    for expected, (number, _) in enumerate(found, start=1):
        if number != expected:
            raise RuntimeError(f"migration {expected:04d} is missing")
    return found


async def migrate(db: Database) -> int:
    """Bring the schema up to date; return the resulting version."""
    if isinstance(db, SqliteDatabase):
        return await _migrate_sqlite(db)
    from storage.postgres import PostgresDatabase, migrate_postgres

    assert isinstance(db, PostgresDatabase)
    return await migrate_postgres(db, available("postgresql"))


async def _migrate_sqlite(db: SqliteDatabase) -> int:
    conn = db.raw
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    for number, sql in available("sqlite"):
        if number <= current:
            continue
        log.info("applying migration %04d", number)
        # executescript commits what is pending first; the whole file and the version bump run
        # in one transaction so a crash never leaves a half-applied migration.
        script = f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
        await conn.executescript(script)
        current = number
    return current
