"""Snapshot of everything a refusal must leave alone: the hand-in tables and the stored files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage.db import Database, fetch_all
from storage.files import FileStore

HANDIN_TABLES = ("groups", "memberships", "uploads", "handins", "submissions", "receipts")


async def snapshot(db: Database, files: FileStore) -> dict[str, Any]:
    state: dict[str, Any] = {}
    async with db.reading() as conn:
        for table in HANDIN_TABLES:
            rows = await fetch_all(conn, f"SELECT * FROM {table} ORDER BY rowid")
            state[table] = [tuple(row) for row in rows]
    state["files"] = sorted(
        (str(path.relative_to(files.root)), path.read_bytes())
        for path in Path(files.root).rglob("*")
        if path.is_file() and "tmp" not in path.relative_to(files.root).parts
    )
    state["tmp"] = sorted(p.name for p in (files.root / "tmp").iterdir())
    return state
