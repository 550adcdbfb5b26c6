"""Applies the numbered SQL migrations in storage/migrations, tracked by PRAGMA user_version."""

from __future__ import annotations

import logging
import re
from importlib import resources

import aiosqlite

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def available() -> list[tuple[int, str]]:
    """The shipped migrations as (number, sql), in order; numbers must run 1, 2, 3, ..."""
    found: list[tuple[int, str]] = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text(encoding="utf-8")))
    found.sort()
    for expected, (number, _) in enumerate(found, start=1):
        if number != expected:
            raise RuntimeError(f"migration {expected:04d} is missing")
    return found


async def migrate(conn: aiosqlite.Connection) -> int:
    """Bring the schema up to date; return the resulting version."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    for number, sql in available():
        if number <= current:
            continue
        log.info("applying migration %04d", number)
        # executescript commits what is pending first; the whole file and the version bump run
        # in one transaction so a crash never leaves a half-applied migration.
        script = f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;"
        await conn.executescript(script)
        current = number
    return current
