"""Feedback drafts, their files, the release and the feedback DM outbox (SPEC §7)."""

from __future__ import annotations

from datetime import datetime

from bot.domain.feedback import Feedback, FeedbackDue, FeedbackFile
from storage.db import Connection, changes, execute, fetch_all, fetch_one
from storage.timefmt import opt_from_db, to_db


async def replace_draft(
    conn: Connection,
    assignment_id: int,
    drafts: list[tuple[int, str, str, list[FeedbackFile]]],
    at: datetime,
) -> None:
    """The assignment's draft becomes exactly `drafts`: (group id, grade, comment, files)."""
    await execute(conn, "DELETE FROM feedback WHERE assignment_id = ?", (assignment_id,))
    for group_id, grade, comment, files in drafts:
        await execute(
            conn,
            "INSERT INTO feedback (group_id, assignment_id, grade, comment, imported_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (group_id, assignment_id, grade, comment, to_db(at)),
        )
        await conn.executemany(
            "INSERT INTO feedback_files (group_id, position, filename, size, sha256)"
            " VALUES (?, ?, ?, ?, ?)",
            [(group_id, n, f.filename, f.size, f.sha256) for n, f in enumerate(files)],
        )


async def of_group(conn: Connection, group_id: int) -> Feedback | None:
    row = await fetch_one(
        conn,
        "SELECT f.group_id, g.pin, f.grade, f.comment FROM feedback f"
        " JOIN groups g ON g.id = f.group_id WHERE f.group_id = ?",
        (group_id,),
    )
    if row is None:
        return None
    files = await fetch_all(
        conn,
        "SELECT filename, size, sha256 FROM feedback_files WHERE group_id = ? ORDER BY position",
        (group_id,),
    )
    return Feedback(
        group_id=row["group_id"],
        pin=row["pin"],
        grade=row["grade"],
        comment=row["comment"],
        files=tuple(FeedbackFile(f["filename"], f["size"], f["sha256"]) for f in files),
    )


async def draft_count(conn: Connection, assignment_id: int) -> int:
    row = await fetch_one(
        conn, "SELECT count(*) AS n FROM feedback WHERE assignment_id = ?", (assignment_id,)
    )
    return 0 if row is None else int(row["n"])


async def released_at(conn: Connection, assignment_id: int) -> datetime | None:
    row = await fetch_one(
        conn,
        "SELECT released_at FROM feedback_releases WHERE assignment_id = ?",
        (assignment_id,),
    )
    return None if row is None else opt_from_db(row["released_at"])


async def release(
    conn: Connection, assignment_id: int, released_by: int | None, at: datetime
) -> int:
    """Mark the feedback released and queue one DM per current member of each group with
    feedback; the number queued. The release row's key makes a second release a no-op."""
    inserted = await changes(
        conn,
        "INSERT INTO feedback_releases (assignment_id, released_at, released_by) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (assignment_id, to_db(at), released_by),
    )
    if not inserted:
        return 0
    return await changes(
        conn,
        "INSERT INTO feedback_deliveries (group_id, user_id, created_at)"
        " SELECT f.group_id, m.user_id, ? FROM feedback f"
        " JOIN memberships m ON m.group_id = f.group_id"
        " WHERE f.assignment_id = ? ON CONFLICT DO NOTHING",
        (to_db(at), assignment_id),
    )


async def due(conn: Connection, now: datetime, limit: int, after_id: int = 0) -> list[FeedbackDue]:
    rows = await fetch_all(
        conn,
        "SELECT id, group_id, user_id, attempts FROM feedback_deliveries"
        " WHERE status = 'pending' AND id > ?"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
        (after_id, to_db(now), limit),
    )
    return [FeedbackDue(r["id"], r["group_id"], r["user_id"], r["attempts"]) for r in rows]


async def claim(conn: Connection, delivery_id: int, claimant: str, lease_seconds: float) -> bool:
    """Claim a pending feedback DM for sending, on the database's clock (as receipts are)."""
    clock = conn.dialect.clock
    claimed = await changes(
        conn,
        f"UPDATE feedback_deliveries SET claimed_until = {clock} + ?, claimed_by = ?"
        " WHERE id = ? AND status = 'pending'"
        f" AND (claimed_until IS NULL OR claimed_until <= {clock} OR claimed_by = ?)",
        (lease_seconds, claimant, delivery_id, claimant),
    )
    return claimed == 1


async def release_claims_of(conn: Connection, claimant: str) -> int:
    return await changes(
        conn,
        "UPDATE feedback_deliveries SET claimed_until = NULL, claimed_by = NULL"
        " WHERE claimed_by = ? AND status = 'pending'",
        (claimant,),
    )


async def finish(
    conn: Connection, delivery_id: int, status: str, at: datetime, error: str = ""
) -> bool:
    changed = await changes(
        conn,
        "UPDATE feedback_deliveries SET status = ?, delivered_at = ?, attempts = attempts + 1,"
        " last_error = nullif(?, '') WHERE id = ? AND status = 'pending'",
        (status, to_db(at), error, delivery_id),
    )
    return changed == 1


async def retry_at(conn: Connection, delivery_id: int, when: datetime, error: str) -> None:
    await execute(
        conn,
        "UPDATE feedback_deliveries SET attempts = attempts + 1, next_attempt_at = ?,"
        " last_error = ?, claimed_until = NULL, claimed_by = NULL"
        " WHERE id = ? AND status = 'pending'",
        (to_db(when), error, delivery_id),
    )


async def delivery_counts(conn: Connection, assignment_id: int) -> dict[str, int]:
    """status -> how many of the assignment's feedback DMs are in it."""
    rows = await fetch_all(
        conn,
        "SELECT d.status, count(*) AS n FROM feedback_deliveries d"
        " JOIN feedback f ON f.group_id = d.group_id WHERE f.assignment_id = ? GROUP BY d.status",
        (assignment_id,),
    )
    return {r["status"]: int(r["n"]) for r in rows}
