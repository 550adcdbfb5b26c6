"""Read queries the export needs beyond the other repositories: hand-in authors, guilds, schema."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from storage.db import Connection, fetch_all, fetch_one


async def handin_authors(conn: Connection, assignment_id: int) -> dict[int, int]:
    """hand-in id -> the user who handed in, for every hand-in of the assignment."""
    rows = await fetch_all(
        conn,
        "SELECT h.id, h.user_id FROM handins h JOIN groups g ON g.id = h.group_id"
        " WHERE g.assignment_id = ?",
        (assignment_id,),
    )
    return {row["id"]: row["user_id"] for row in rows}


async def staff_handins(conn: Connection, assignment_id: int) -> set[int]:
    """The ids of the assignment's hand-ins that staff made on a group's behalf."""
    rows = await fetch_all(
        conn,
        "SELECT h.id FROM handins h JOIN groups g ON g.id = h.group_id"
        " WHERE g.assignment_id = ? AND h.staff_reason IS NOT NULL",
        (assignment_id,),
    )
    return {row["id"] for row in rows}


async def guild_known(conn: Connection, guild_id: int) -> bool:
    """True when the guild has an assignment or saved settings: the bot has seen it."""
    row = await fetch_one(
        conn,
        "SELECT EXISTS (SELECT 1 FROM assignments WHERE guild_id = ?)"
        " OR EXISTS (SELECT 1 FROM guild_settings WHERE guild_id = ?) AS known",
        (guild_id, guild_id),
    )
    return row is not None and bool(row["known"])


def schema_version_of_file(path: Path) -> int:
    """PRAGMA user_version through a plain read-only connection (0: not a hand-in database).

    Raises sqlite3.Error for a file that is not SQLite. Checking this way first matters: an
    aiosqlite connection that fails while opening keeps its thread alive, and the process
    never exits.
    """
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("PRAGMA user_version").fetchone()
        return 0 if row is None else int(row[0])
    finally:
        conn.close()
