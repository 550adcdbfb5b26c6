"""Uploads, hand-ins, recorded submissions and the receipt outbox."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from bot.domain.models import HandIn, Part, PartFinal, ReceiptDue, Submission, Upload
from storage.db import (
    BatchConnection,
    Connection,
    Later,
    Row,
    changes,
    execute,
    fetch_all,
    fetch_one,
    insert,
)
from storage.timefmt import from_db, to_db

T = TypeVar("T")


def _row_to_upload(row: Row, prefix: str = "") -> Upload:
    return Upload(
        id=row[f"{prefix}id"],
        group_id=row[f"{prefix}group_id"],
        user_id=row[f"{prefix}user_id"],
        filename=row[f"{prefix}filename"],
        size=row[f"{prefix}size"],
        sha256=row[f"{prefix}sha256"],
        content_type=row[f"{prefix}content_type"],
        sent_at=from_db(row[f"{prefix}sent_at"]),
        stored_at=from_db(row[f"{prefix}stored_at"]),
        late=bool(row[f"{prefix}late"]),
        part_id=row[f"{prefix}part_id"],
        by_staff=bool(row[f"{prefix}by_staff"]),
    )


def _row_to_handin(row: Row) -> HandIn:
    return HandIn(
        id=row["id"],
        group_id=row["group_id"],
        upload_id=row["upload_id"],
        user_id=row["user_id"],
        sent_at=from_db(row["sent_at"]),
        late=bool(row["late"]),
        staff_reason=row["staff_reason"],
    )


# --- uploads -------------------------------------------------------------------------------
_UPLOAD_COLUMNS = (
    "uploads (group_id, user_id, filename, size, sha256, content_type, sent_at, stored_at,"
    " late, interaction_id, part_id, by_staff)"
)


def _upload_params(upload: Upload, interaction_id: int | None) -> tuple[object, ...]:
    return (
        upload.group_id,
        upload.user_id,
        upload.filename,
        upload.size,
        upload.sha256,
        upload.content_type,
        to_db(upload.sent_at),
        to_db(upload.stored_at),
        int(upload.late),
        interaction_id,
        upload.part_id,
        int(upload.by_staff),
    )


async def insert_upload(conn: Connection, upload: Upload, interaction_id: int | None) -> int:
    """Insert `upload` (its `id` is not used) and return the id the database gave it."""
    params = _upload_params(upload, interaction_id)
    marks = ", ".join("?" for _ in params)
    return await insert(conn, f"INSERT INTO {_UPLOAD_COLUMNS} VALUES ({marks})", params)


async def insert_upload_later(
    conn: Connection, upload: Upload, interaction_id: int | None
) -> Later[int]:
    """`insert_upload`, put off to the end of a group-commit batch when `conn` is one (the
    batch's uploads in one statement); its id once the batch committed."""
    if not isinstance(conn, BatchConnection):
        return Later.of(await insert_upload(conn, upload, interaction_id))
    params = _upload_params(upload, interaction_id)
    return await conn.insert_later(
        _UPLOAD_COLUMNS, params, key_column="interaction_id", key=interaction_id
    )


async def upload(conn: Connection, upload_id: int) -> Upload | None:
    row = await fetch_one(conn, "SELECT * FROM uploads WHERE id = ?", (upload_id,))
    return None if row is None else _row_to_upload(row)


async def upload_by_interaction(conn: Connection, interaction_id: int) -> Upload | None:
    row = await fetch_one(conn, "SELECT * FROM uploads WHERE interaction_id = ?", (interaction_id,))
    return None if row is None else _row_to_upload(row)


async def uploads_of(conn: Connection, group_id: int) -> list[Upload]:
    """A group's uploads, oldest first (by the time they were sent)."""
    rows = await fetch_all(
        conn, "SELECT * FROM uploads WHERE group_id = ? ORDER BY sent_at, id", (group_id,)
    )
    return [_row_to_upload(row) for row in rows]


async def latest_upload_before(conn: Connection, group_id: int, before: datetime) -> Upload | None:
    """The group's last upload sent strictly before `before`."""
    row = await fetch_one(
        conn,
        "SELECT * FROM uploads WHERE group_id = ? AND sent_at < ? ORDER BY sent_at DESC, id DESC"
        " LIMIT 1",
        (group_id, to_db(before)),
    )
    return None if row is None else _row_to_upload(row)


async def upload_count(conn: Connection, group_id: int) -> int:
    row = await fetch_one(conn, "SELECT count(*) AS n FROM uploads WHERE group_id = ?", (group_id,))
    return int(row["n"]) if row else 0


async def upload_counts(conn: Connection, assignment_id: int) -> dict[int, int]:
    rows = await fetch_all(
        conn,
        "SELECT u.group_id, count(*) AS n FROM uploads u JOIN groups g ON g.id = u.group_id"
        " WHERE g.assignment_id = ? GROUP BY u.group_id",
        (assignment_id,),
    )
    return {row["group_id"]: row["n"] for row in rows}


# --- hand-ins ------------------------------------------------------------------------------
async def insert_handin(
    conn: Connection,
    *,
    group_id: int,
    upload_id: int,
    user_id: int,
    sent_at: datetime,
    late: bool,
    staff_reason: str | None = None,
) -> int:
    """`staff_reason`: a staff hand-in on the group's behalf, and why (SPEC §5b)."""
    return await insert(
        conn,
        "INSERT INTO handins (group_id, upload_id, user_id, sent_at, late, staff_reason)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (group_id, upload_id, user_id, to_db(sent_at), int(late), staff_reason),
    )


async def handins_of(conn: Connection, group_id: int) -> list[HandIn]:
    rows = await fetch_all(
        conn, "SELECT * FROM handins WHERE group_id = ? ORDER BY sent_at, id", (group_id,)
    )
    return [_row_to_handin(row) for row in rows]


# --- submissions ---------------------------------------------------------------------------
_SUBMISSION = (
    "SELECT s.group_id AS s_group_id, s.revision, s.handin_id, s.late AS s_late,"
    " s.recorded_at, u.* FROM submissions s LEFT JOIN uploads u ON u.id = s.upload_id"
)


async def current_submission(
    conn: Connection, group_id: int, parts: tuple[Part, ...] = ()
) -> Submission | None:
    """The group's latest recorded revision (its final submission), if any; with the
    assignment's `parts`, each part's final."""
    row = await fetch_one(
        conn, f"{_SUBMISSION} WHERE s.group_id = ? ORDER BY s.revision DESC LIMIT 1", (group_id,)
    )
    return await _with_parts(conn, _row_to_submission(row), parts)


async def submission_at(
    conn: Connection, group_id: int, revision: int, parts: tuple[Part, ...] = ()
) -> Submission | None:
    row = await fetch_one(
        conn, f"{_SUBMISSION} WHERE s.group_id = ? AND s.revision = ?", (group_id, revision)
    )
    return await _with_parts(conn, _row_to_submission(row), parts)


_PART_FINALS = (
    "SELECT sp.group_id AS sp_group_id, sp.revision AS sp_revision, sp.part_id AS sp_part_id,"
    " sp.handin_id AS sp_handin_id, sp.late AS sp_late, u.*"
    " FROM submission_parts sp JOIN uploads u ON u.id = sp.upload_id"
)


async def _with_parts(
    conn: Connection, submission: Submission | None, parts: tuple[Part, ...]
) -> Submission | None:
    if submission is None or not parts:
        return submission
    rows = await fetch_all(
        conn,
        f"{_PART_FINALS} WHERE sp.group_id = ? AND sp.revision = ?",
        (submission.group_id, submission.revision),
    )
    return _attach_parts(submission, rows, parts)


async def current_submissions(
    conn: Connection, assignment_id: int, parts: tuple[Part, ...] = ()
) -> dict[int, Submission]:
    """`current_submission` of every group of the assignment that has one, in two queries."""
    latest = (
        " WHERE s.group_id IN (SELECT id FROM groups WHERE assignment_id = ?)"
        " AND s.revision = (SELECT max(revision) FROM submissions l WHERE l.group_id = s.group_id)"
    )
    found: dict[int, Submission] = {}
    for row in await fetch_all(conn, _SUBMISSION + latest, (assignment_id,)):
        submission = _row_to_submission(row)
        assert submission is not None
        found[submission.group_id] = submission
    if not parts or not found:
        return found
    rows = await fetch_all(
        conn,
        f"{_PART_FINALS} JOIN groups g ON g.id = sp.group_id WHERE g.assignment_id = ?",
        (assignment_id,),
    )
    by_revision: dict[tuple[int, int], list[Row]] = {}
    for row in rows:
        by_revision.setdefault((row["sp_group_id"], row["sp_revision"]), []).append(row)
    return {
        group_id: _attach_parts(s, by_revision.get((group_id, s.revision), []), parts)
        for group_id, s in found.items()
    }


async def uploads_by_group(conn: Connection, assignment_id: int) -> dict[int, list[Upload]]:
    """Every group's `uploads_of`, in one query."""
    return await _by_group(conn, "uploads", assignment_id, _row_to_upload)


async def handins_by_group(conn: Connection, assignment_id: int) -> dict[int, list[HandIn]]:
    """Every group's `handins_of`, in one query."""
    return await _by_group(conn, "handins", assignment_id, _row_to_handin)


async def _by_group(
    conn: Connection, table: str, assignment_id: int, model: Callable[[Row], T]
) -> dict[int, list[T]]:
    """An assignment's rows of `table` (a constant, never user input), by group, in the order
    they were sent."""
    rows = await fetch_all(
        conn,
        f"SELECT x.* FROM {table} x JOIN groups g ON g.id = x.group_id WHERE g.assignment_id = ?"
        " ORDER BY x.group_id, x.sent_at, x.id",
        (assignment_id,),
    )
    found: dict[int, list[T]] = {}
    for row in rows:
        found.setdefault(row["group_id"], []).append(model(row))
    return found


def _attach_parts(submission: Submission, rows: list[Row], parts: tuple[Part, ...]) -> Submission:
    found = {row["sp_part_id"]: row for row in rows}
    finals = []
    for part in parts:
        row = found.get(part.id)
        if row is None:
            finals.append(PartFinal(part, None, None, False))
        else:
            upload = _row_to_upload(row)
            finals.append(PartFinal(part, upload, row["sp_handin_id"], bool(row["sp_late"])))
    return replace(submission, parts=tuple(finals))


async def insert_submission_parts(
    conn: Connection, group_id: int, revision: int, finals: tuple[PartFinal, ...]
) -> None:
    """Each part's final of a revision (parts with no upload get no row)."""
    for final in finals:
        if final.upload is None:
            continue
        await execute(
            conn,
            "INSERT INTO submission_parts (group_id, revision, part_id, upload_id, handin_id,"
            " late) VALUES (?, ?, ?, ?, ?, ?)",
            (group_id, revision, final.part.id, final.upload.id, final.handin_id, int(final.late)),
        )


async def parts_with_uploads(conn: Connection, part_ids: list[int]) -> list[int]:
    """Of `part_ids`, those that hold an upload."""
    if not part_ids:
        return []
    marks = ", ".join("?" for _ in part_ids)
    rows = await fetch_all(
        conn, f"SELECT DISTINCT part_id FROM uploads WHERE part_id IN ({marks})", part_ids
    )
    return [row["part_id"] for row in rows]


async def assignment_has_uploads(conn: Connection, assignment_id: int) -> bool:
    row = await fetch_one(
        conn,
        "SELECT EXISTS (SELECT 1 FROM uploads u JOIN groups g ON g.id = u.group_id"
        " WHERE g.assignment_id = ?) AS found",
        (assignment_id,),
    )
    return bool(row and row["found"])


def _row_to_submission(row: Row | None) -> Submission | None:
    if row is None:
        return None
    return Submission(
        group_id=row["s_group_id"],
        revision=row["revision"],
        upload=None if row["id"] is None else _row_to_upload(row),
        handin_id=row["handin_id"],
        late=bool(row["s_late"]),
        recorded_at=from_db(row["recorded_at"]),
    )


async def insert_submission(
    conn: Connection,
    *,
    group_id: int,
    revision: int,
    upload_id: int | None,
    handin_id: int | None,
    late: bool,
    recorded_at: datetime,
) -> None:
    await execute(
        conn,
        "INSERT INTO submissions (group_id, revision, upload_id, handin_id, late, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (group_id, revision, upload_id, handin_id, int(late), to_db(recorded_at)),
    )


# --- receipts ------------------------------------------------------------------------------
async def insert_receipt(
    conn: Connection,
    *,
    group_id: int,
    revision: int,
    user_id: int,
    replaces: bool,
    created_at: datetime,
) -> None:
    await execute(
        conn,
        "INSERT INTO receipts (group_id, revision, user_id, replaces, created_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (group_id, revision, user_id, int(replaces), to_db(created_at)),
    )


async def supersede_pending_receipts(conn: Connection, group_id: int) -> None:
    """A newer revision's receipts say what counts now; older undelivered ones are dropped."""
    await execute(
        conn,
        "UPDATE receipts SET status = 'superseded' WHERE group_id = ? AND status = 'pending'",
        (group_id,),
    )


async def receipt_status(conn: Connection, receipt_id: int) -> str | None:
    row = await fetch_one(conn, "SELECT status FROM receipts WHERE id = ?", (receipt_id,))
    return None if row is None else str(row["status"])


async def members_with_sent_receipt(conn: Connection, group_id: int) -> set[int]:
    """The users who were sent a receipt for this group before (any revision)."""
    rows = await fetch_all(
        conn,
        "SELECT DISTINCT user_id FROM receipts WHERE group_id = ? AND status = 'sent'",
        (group_id,),
    )
    return {row["user_id"] for row in rows}


async def due_receipts(
    conn: Connection, now: datetime, limit: int, after_id: int = 0
) -> list[ReceiptDue]:
    """Pending receipts whose next try is due, in id order after `after_id`."""
    rows = await fetch_all(
        conn,
        "SELECT id, group_id, revision, user_id, attempts FROM receipts"
        " WHERE status = 'pending' AND id > ?"
        " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id LIMIT ?",
        (after_id, to_db(now), limit),
    )
    return [
        ReceiptDue(
            id=row["id"],
            group_id=row["group_id"],
            revision=row["revision"],
            user_id=row["user_id"],
            attempts=row["attempts"],
        )
        for row in rows
    ]


async def finish_receipt(
    conn: Connection, receipt_id: int, status: str, at: datetime, error: str = ""
) -> bool:
    """Mark a pending receipt sent or undeliverable; False when it was no longer pending (a
    superseded one stays superseded, a sent one is never marked twice)."""
    changed = await changes(
        conn,
        "UPDATE receipts SET status = ?, delivered_at = ?, attempts = attempts + 1,"
        " last_error = nullif(?, '') WHERE id = ? AND status = 'pending'",
        (status, to_db(at), error, receipt_id),
    )
    return changed == 1


async def claim_receipt(
    conn: Connection, receipt_id: int, claimant: str, lease_seconds: float
) -> bool:
    """Claim a pending receipt for sending, for `lease_seconds` of the database's clock; False
    when it is no longer pending or another claimant holds an unexpired claim on it."""
    clock = conn.dialect.clock
    claimed = await changes(
        conn,
        f"UPDATE receipts SET claimed_until = {clock} + ?, claimed_by = ?"
        " WHERE id = ? AND status = 'pending'"
        f" AND (claimed_until IS NULL OR claimed_until <= {clock} OR claimed_by = ?)",
        (lease_seconds, claimant, receipt_id, claimant),
    )
    return claimed == 1


async def release_claims_of(conn: Connection, claimant: str) -> int:
    """Drop the claims `claimant` holds (a restarted process: its earlier life died mid-send,
    and what it was sending goes out again at once, with the same nonce)."""
    return await changes(
        conn,
        "UPDATE receipts SET claimed_until = NULL, claimed_by = NULL"
        " WHERE claimed_by = ? AND status = 'pending'",
        (claimant,),
    )


async def retry_receipt_at(conn: Connection, receipt_id: int, when: datetime, error: str) -> None:
    """Leave a pending receipt pending, to be tried again at `when`."""
    await execute(
        conn,
        "UPDATE receipts SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,"
        " claimed_until = NULL, claimed_by = NULL WHERE id = ? AND status = 'pending'",
        (to_db(when), error, receipt_id),
    )


async def sent_times(conn: Connection, assignment_id: int) -> list[datetime]:
    """When each of the assignment's uploads was sent, oldest first."""
    rows = await fetch_all(
        conn,
        "SELECT u.sent_at FROM uploads u JOIN groups g ON g.id = u.group_id"
        " WHERE g.assignment_id = ? ORDER BY u.sent_at",
        (assignment_id,),
    )
    return [from_db(r["sent_at"]) for r in rows]
