"""What the health check and the metrics read: the receipt outbox and overdue deadlines."""

from __future__ import annotations

from datetime import datetime

from storage.db import Connection, fetch_all, fetch_one
from storage.timefmt import to_db


async def receipt_counts(conn: Connection) -> dict[str, int]:
    """How many receipts the outbox holds, by status (`pending`, `sent`, ...)."""
    rows = await fetch_all(conn, "SELECT status, count(*) AS n FROM receipts GROUP BY status")
    return {row["status"]: int(row["n"]) for row in rows}


async def receipts_waiting_since(conn: Connection, before: datetime) -> int:
    """Pending receipts that should have gone out before `before` (first try or retry)."""
    row = await fetch_one(
        conn,
        "SELECT count(*) AS n FROM receipts WHERE status = 'pending'"
        " AND coalesce(next_attempt_at, created_at) < ?",
        (to_db(before),),
    )
    return int(row["n"]) if row else 0


async def ping(conn: Connection) -> None:
    """One round trip: raises when the database cannot answer."""
    await fetch_one(conn, "SELECT 1")
