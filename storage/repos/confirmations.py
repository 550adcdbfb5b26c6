"""Members' agreement to their group's uploads (`all_must_confirm`, SPEC §5b)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from storage.db import Connection, Row, execute, fetch_all
from storage.timefmt import to_db


async def confirm(
    conn: Connection, group_id: int, user_id: int, upload_ids: Iterable[int], at: datetime
) -> None:
    """`user_id` agrees to each of `upload_ids` (agreeing twice keeps the first time)."""
    for upload_id in upload_ids:
        await execute(
            conn,
            "INSERT INTO confirmations (upload_id, user_id, group_id, confirmed_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (upload_id, user_id) DO NOTHING",
            (upload_id, user_id, group_id, to_db(at)),
        )


async def confirmed_by(conn: Connection, group_id: int) -> dict[int, set[int]]:
    """upload id -> the current members who agreed to it, for one group."""
    return _grouped(
        await fetch_all(
            conn,
            "SELECT c.group_id, c.upload_id, c.user_id FROM confirmations c"
            " JOIN memberships m ON m.group_id = c.group_id AND m.user_id = c.user_id"
            " WHERE c.group_id = ?",
            (group_id,),
        )
    ).get(group_id, {})


async def confirmed_by_group(
    conn: Connection, assignment_id: int
) -> dict[int, dict[int, set[int]]]:
    """`confirmed_by` for every group of the assignment, in one query."""
    return _grouped(
        await fetch_all(
            conn,
            "SELECT c.group_id, c.upload_id, c.user_id FROM confirmations c"
            " JOIN memberships m ON m.group_id = c.group_id AND m.user_id = c.user_id"
            " WHERE m.assignment_id = ?",
            (assignment_id,),
        )
    )


def _grouped(rows: Iterable[Row]) -> dict[int, dict[int, set[int]]]:
    found: dict[int, dict[int, set[int]]] = {}
    for row in rows:
        by_upload = found.setdefault(row["group_id"], {})
        by_upload.setdefault(row["upload_id"], set()).add(row["user_id"])
    return found
