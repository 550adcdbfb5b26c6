"""Migration 0004 (parts): an assignment made before parts gets none and keeps working."""

from __future__ import annotations

from pathlib import Path

from bot.domain.models import Actor
from bot.services.registry import build_services
from storage.db import Database, fetch_all
from storage.files import FileStore
from storage.migrate import available, migrate
from tests.clock import FakeClock
from tests.conftest import GUILD, START, RecordingNotifier, incoming, sha

ALICE = Actor(user_id=101, display_name="Alice")


async def test_an_assignment_from_before_parts_has_none_and_takes_uploads(
    tmp_path: Path,
) -> None:
    db = await Database.open(tmp_path / "old.sqlite3", durable=False)
    try:
        before_parts = [sql for number, sql in available() if number <= 3]
        for number, sql in enumerate(before_parts, start=1):
            await db.raw.executescript(f"BEGIN;\n{sql}\nPRAGMA user_version = {number};\nCOMMIT;")
        await db.raw.execute(
            "INSERT INTO assignments (guild_id, name, name_key, opens_at, closes_at, group_mode,"
            " created_by, created_at) VALUES (?, 'Lab 1', 'lab 1', '2026-11-27T00:00:00.000000Z',"
            " '2026-12-27T00:00:00.000000Z', 'open', 1, '2026-11-27T00:00:00.000000Z')",
            (GUILD,),
        )
        await db.raw.commit()
        assert await migrate(db) == len(available())
        files = FileStore(tmp_path / "files")
        files.prepare()
        services = build_services(db, files, FakeClock(START), RecordingNotifier())
        assignment = await services.assignments.get(GUILD, "lab 1")
        assert assignment.parts == ()
        await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=START)
        result = await services.submissions.upload(
            GUILD, ALICE, "Lab 1", incoming(b"old style"), sent_at=START
        )
        assert result.upload.part_id is None
        rows = await fetch_all(db.conn, "SELECT sha256, part_id FROM uploads")
        assert [tuple(r) for r in rows] == [(sha(b"old style"), None)]
    finally:
        await db.close()
