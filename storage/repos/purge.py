"""Purging an assignment's students' data (SPEC §9), the purge marks and the retention setting."""

from __future__ import annotations

import json
from datetime import datetime

from storage.db import Connection, changes, execute, fetch_all, fetch_one
from storage.timefmt import from_db, to_db

_GROUPS = "SELECT id FROM groups WHERE assignment_id = ?"
# The JSON parameters' columns (storage/db.py Dialect.json_rows).
_SHAS = (("sha256", "TEXT"),)
_USER_IDS = (("user_id", "BIGINT"),)
# Everyone the assignment knew by a Discord id: candidates, and whoever acted on its groups.
_USERS = (
    "SELECT user_id FROM candidates WHERE assignment_id = ?"
    " UNION SELECT user_id FROM undelivered_dms WHERE assignment_id = ?"
    " UNION SELECT user_id FROM join_failures WHERE assignment_id = ?"
)


async def stored_hashes(conn: Connection, assignment_id: int) -> set[str]:
    """The SHA-256 of every stored file the assignment refers to (uploads, feedback files)."""
    rows = await fetch_all(
        conn,
        f"SELECT u.sha256 FROM uploads u WHERE u.group_id IN ({_GROUPS})"
        " UNION SELECT ff.sha256 FROM feedback_files ff"
        f" WHERE ff.group_id IN ({_GROUPS})",
        (assignment_id, assignment_id),
    )
    return {row["sha256"] for row in rows}


async def hashes_still_used(conn: Connection, hashes: set[str]) -> set[str]:
    """Which of `hashes` some remaining upload or feedback file still refers to."""
    if not hashes:
        return set()
    # One JSON parameter, not one placeholder each: a course can hold more files than SQLite
    # takes variables.
    rows = await fetch_all(
        conn,
        f"SELECT j.sha256 FROM ({conn.dialect.json_rows(_SHAS)}) j"
        " WHERE EXISTS (SELECT 1 FROM uploads u WHERE u.sha256 = j.sha256)"
        " OR EXISTS (SELECT 1 FROM feedback_files f WHERE f.sha256 = j.sha256)",
        (json.dumps([[sha] for sha in sorted(hashes)]),),
    )
    return {row["sha256"] for row in rows}


async def users_of(conn: Connection, assignment_id: int) -> set[int]:
    rows = await fetch_all(conn, _USERS, (assignment_id,) * 3)
    return {row["user_id"] for row in rows}


async def delete_students_data(conn: Connection, assignment_id: int) -> None:
    """Every row of the assignment that holds something of its students, children first."""
    by_group = (
        "feedback_deliveries",
        "feedback_files",
        "feedback",
        "receipts",
        "submission_parts",
        "submissions",
        "handins",
        "uploads",
    )
    for table in by_group:
        await execute(conn, f"DELETE FROM {table} WHERE group_id IN ({_GROUPS})", (assignment_id,))
    for table in (
        "feedback_releases",
        "memberships",
        "groups",
        "candidates",
        "undelivered_dms",
        "join_failures",
        "retention_notices",
    ):
        await execute(conn, f"DELETE FROM {table} WHERE assignment_id = ?", (assignment_id,))


async def forget_users(conn: Connection, user_ids: set[int]) -> None:
    """Drop what is kept per user (language, queued notices) for those no other assignment
    still has as a candidate."""
    if not user_ids:
        return
    for table in ("user_locales", "pending_notices"):
        await execute(
            conn,
            f"DELETE FROM {table} WHERE user_id IN"
            f" (SELECT j.user_id FROM ({conn.dialect.json_rows(_USER_IDS)}) j)"
            " AND user_id NOT IN (SELECT user_id FROM candidates)",
            (json.dumps([[user_id] for user_id in sorted(user_ids)]),),
        )


async def mark_purged(conn: Connection, assignment_id: int, at: datetime, files: int) -> None:
    await execute(
        conn,
        "INSERT INTO assignment_purges (assignment_id, purged_at, files_deleted) VALUES (?, ?, ?)",
        (assignment_id, to_db(at), files),
    )


async def purged_at(conn: Connection, assignment_id: int) -> datetime | None:
    row = await fetch_one(
        conn, "SELECT purged_at FROM assignment_purges WHERE assignment_id = ?", (assignment_id,)
    )
    return None if row is None else from_db(row["purged_at"])


async def purged_in_guild(conn: Connection, guild_id: int) -> dict[int, datetime]:
    rows = await fetch_all(
        conn,
        "SELECT p.assignment_id, p.purged_at FROM assignment_purges p"
        " JOIN assignments a ON a.id = p.assignment_id WHERE a.guild_id = ?",
        (guild_id,),
    )
    return {row["assignment_id"]: from_db(row["purged_at"]) for row in rows}


# --- retention -------------------------------------------------------------------------------
async def retention_days(conn: Connection, guild_id: int) -> int | None:
    row = await fetch_one(
        conn, "SELECT retention_days FROM guild_settings WHERE guild_id = ?", (guild_id,)
    )
    return None if row is None else row["retention_days"]


async def set_retention_days(conn: Connection, guild_id: int, days: int | None) -> None:
    await execute(
        conn,
        "INSERT INTO guild_settings (guild_id, retention_days) VALUES (?, ?)"
        " ON CONFLICT (guild_id) DO UPDATE SET retention_days = excluded.retention_days",
        (guild_id, days),
    )


async def guilds_with_retention(conn: Connection) -> dict[int, int]:
    rows = await fetch_all(
        conn,
        "SELECT guild_id, retention_days FROM guild_settings WHERE retention_days IS NOT NULL",
    )
    return {row["guild_id"]: int(row["retention_days"]) for row in rows}


async def database_now(conn: Connection) -> float:
    """The database's clock, in seconds since 1970 (retention is decided by it)."""
    row = await fetch_one(conn, f"SELECT {conn.dialect.clock} AS now")
    assert row is not None
    return float(row["now"])


async def claim_notice(
    conn: Connection, assignment_id: int, purge_at: datetime, at: datetime
) -> bool:
    """Record the week-ahead notice; False when it was recorded before (it goes out once)."""
    inserted = await changes(
        conn,
        "INSERT INTO retention_notices (assignment_id, purge_at, noticed_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (assignment_id, to_db(purge_at), to_db(at)),
    )
    return inserted == 1
