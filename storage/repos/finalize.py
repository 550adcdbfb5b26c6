"""Set-based finalization: many groups' first final submission in a few statements.

Each function is one round trip whatever the number of groups (at a deadline 2,000 groups close
at once, and a round trip per group and step held the write lock for over a second). The groups
travel as one JSON parameter (`Dialect.json_rows`: `json_each` on SQLite, `jsonb_array_elements`
on PostgreSQL), so there is no bound from a variable limit. Times are the fixed-width UTC text of
`storage/timefmt.py`, so they compare as text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.domain.models import Group, Upload
from storage.db import Connection, execute, fetch_all, fetch_one
from storage.repos.groups import _row_to_group
from storage.repos.uploads import _row_to_upload
from storage.timefmt import to_db

# The JSON parameters' columns (name, SQL type).
_DUE = (("group_id", "BIGINT"), ("final", "TEXT"))
_FIRSTS = (
    ("group_id", "BIGINT"),
    ("upload_id", "BIGINT"),
    ("handin_id", "BIGINT"),
    ("late", "INTEGER"),
)
_IDS = (("group_id", "BIGINT"),)


@dataclass(frozen=True, slots=True)
class LatestUpload:
    """A group's latest upload before its final deadline, and what else its first final needs."""

    group_id: int
    upload: Upload
    # The latest hand-in before the deadline, when it points at this upload.
    handin_id: int | None
    members: int


async def database_now(conn: Connection) -> datetime:
    """The database's clock now: what is due is decided by it, the same for every process
    sharing the database, whatever their own clocks say."""
    row = await fetch_one(conn, f"SELECT {conn.dialect.clock} AS now")
    assert row is not None
    return datetime.fromtimestamp(float(row["now"]), UTC)


async def assignments_with_open_groups(conn: Connection) -> list[int]:
    """The ids of the assignments with a group not finalized yet (only those can fall due)."""
    rows = await fetch_all(
        conn, "SELECT DISTINCT assignment_id FROM groups WHERE finalized_at IS NULL ORDER BY 1"
    )
    return [int(row[0]) for row in rows]


async def claim_unfinalized_groups(conn: Connection, assignment_id: int) -> list[Group]:
    """The assignment's groups not finalized yet, locked for this transaction, by PIN.

    On PostgreSQL the rows are claimed with FOR UPDATE SKIP LOCKED: a group another process's
    transaction is finalizing right now is left to it (its commit sets `finalized_at`; if that
    process dies, its transaction rolls back, the lock goes with it, and the next sweep of any
    process takes the group). So a group is finalized by exactly one transaction.
    """
    rows = await fetch_all(
        conn,
        "SELECT * FROM groups WHERE assignment_id = ? AND finalized_at IS NULL ORDER BY pin"
        + conn.dialect.skip_locked,
        (assignment_id,),
    )
    return [_row_to_group(row) for row in rows]


async def groups_with_submission(conn: Connection, assignment_id: int) -> set[int]:
    """The assignment's unfinalized groups that already have a recorded submission."""
    rows = await fetch_all(
        conn,
        "SELECT DISTINCT s.group_id FROM submissions s JOIN groups g ON g.id = s.group_id"
        " WHERE g.assignment_id = ? AND g.finalized_at IS NULL",
        (assignment_id,),
    )
    return {row["group_id"] for row in rows}


async def latest_uploads_before(
    conn: Connection, finals: Sequence[tuple[int, datetime]]
) -> list[LatestUpload]:
    """For each (group id, final deadline), the group's last upload sent strictly before it
    (ties in `sent_at` go to the highest id), in the order given; groups with none are left out.

    The same choice as `finalization.choose_final_among` makes per group (a differential test
    keeps them equal); each look-up is a backwards seek on the (group_id, sent_at, id) indexes.
    """
    if not finals:
        return []
    rows = await fetch_all(
        conn,
        f"WITH due AS ({conn.dialect.json_rows(_DUE)}), chosen AS ("
        "  SELECT d.pos, d.group_id,"
        "   (SELECT u.id FROM uploads u WHERE u.group_id = d.group_id AND u.sent_at < d.final"
        "    ORDER BY u.sent_at DESC, u.id DESC LIMIT 1) AS upload_id,"
        "   (SELECT h.id FROM handins h WHERE h.group_id = d.group_id AND h.sent_at < d.final"
        "    ORDER BY h.sent_at DESC, h.id DESC LIMIT 1) AS last_handin"
        "  FROM due d"
        ")"
        " SELECT u.*, h.id AS chosen_handin_id,"
        "  (SELECT count(*) FROM memberships m JOIN candidates c"
        "    ON c.assignment_id = m.assignment_id AND c.user_id = m.user_id"
        "   WHERE m.group_id = ch.group_id) AS member_count"
        " FROM chosen ch JOIN uploads u ON u.id = ch.upload_id"
        " LEFT JOIN handins h ON h.id = ch.last_handin AND h.upload_id = ch.upload_id"
        " ORDER BY ch.pos",
        (json.dumps([[group_id, to_db(final)] for group_id, final in finals]),),
    )
    return [
        LatestUpload(
            group_id=row["group_id"],
            upload=_row_to_upload(row),
            handin_id=row["chosen_handin_id"],
            members=row["member_count"],
        )
        for row in rows
    ]


async def insert_first_submissions(
    conn: Connection,
    submissions: Sequence[tuple[int, int, int | None, bool]],
    recorded_at: datetime,
) -> None:
    """Record revision 1 for each (group id, upload id, hand-in id, late), in the order given."""
    if not submissions:
        return
    await execute(
        conn,
        "INSERT INTO submissions (group_id, revision, upload_id, handin_id, late, recorded_at)"
        " SELECT s.group_id, 1, s.upload_id, s.handin_id, s.late, ?"
        f" FROM ({conn.dialect.json_rows(_FIRSTS)}) s ORDER BY s.pos",
        (
            to_db(recorded_at),
            json.dumps([[g, u, h, int(late)] for g, u, h, late in submissions]),
        ),
    )


async def insert_first_receipts(
    conn: Connection, group_ids: Sequence[int], created_at: datetime
) -> None:
    """Queue a pending receipt of revision 1 for every current member of each group, group by
    group in the order given and members by candidate number (the per-group order).

    Plain INSERT, and `replaces` 0: a receipt references its submission row, so a group without
    one has no earlier receipt to collide with or to replace.
    """
    if not group_ids:
        return
    await execute(
        conn,
        "INSERT INTO receipts (group_id, revision, user_id, replaces, created_at)"
        f" SELECT m.group_id, 1, m.user_id, 0, ? FROM ({conn.dialect.json_rows(_IDS)}) j"
        " JOIN memberships m ON m.group_id = j.group_id"
        " JOIN candidates c ON c.assignment_id = m.assignment_id AND c.user_id = m.user_id"
        " ORDER BY j.pos, c.number",
        (to_db(created_at), json.dumps([[group_id] for group_id in group_ids])),
    )


async def set_finalized(conn: Connection, group_ids: Iterable[int], at: datetime) -> set[int]:
    """Mark the groups finalized at `at`; the ids this statement marked (UPDATE ... RETURNING:
    a group already finalized is not among them)."""
    ids = list(group_ids)
    if not ids:
        return set()
    rows = await fetch_all(
        conn,
        "UPDATE groups SET finalized_at = ?"
        f" WHERE id IN (SELECT j.group_id FROM ({conn.dialect.json_rows(_IDS)}) j)"
        " AND finalized_at IS NULL RETURNING id",
        (to_db(at), json.dumps([[group_id] for group_id in ids])),
    )
    return {int(row[0]) for row in rows}
