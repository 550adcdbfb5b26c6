"""Snapshot of everything a refusal must leave alone: the hand-in tables and the stored files."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.services.ports import StoredFiles
from storage.db import Database, fetch_all

HANDIN_TABLES = (
    "groups",
    "memberships",
    "uploads",
    "handins",
    "submissions",
    "receipts",
    "confirmations",
)


async def snapshot(db: Database, files: StoredFiles) -> dict[str, Any]:
    state: dict[str, Any] = {}
    async with db.reading() as conn:
        for table in HANDIN_TABLES:
            rows = await fetch_all(conn, f"SELECT * FROM {table} ORDER BY 1, 2")
            state[table] = [tuple(row) for row in rows]
    return state | _stored(files.root)


def _stored(root: Path) -> dict[str, Any]:
    """The stored files with their bytes, and the temp folder's names (a refusal leaves none)."""
    return {
        "files": sorted(
            (str(path.relative_to(root)), path.read_bytes())
            for path in root.rglob("*")
            if path.is_file() and "tmp" not in path.relative_to(root).parts
        ),
        "tmp": sorted(p.name for p in (root / "tmp").iterdir()),
    }


@asynccontextmanager
async def unchanged(db: Database, files: StoredFiles) -> AsyncIterator[None]:
    """Assert that the block (a refusal wrapped in `pytest.raises`) left the hand-in alone."""
    before = await snapshot(db, files)
    yield
    assert await snapshot(db, files) == before
