"""Purge and retention (SPEC §9): refused while open, everything of the students gone after it
(read back from the raw database file and the data folder), shared files kept."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.errors import (
    AlreadyPurgedError,
    ManageServerOnlyError,
    PurgeWhileOpenError,
    RetentionDaysInvalidError,
    StaffOnlyError,
)
from bot.domain.models import Actor
from bot.services.exports import export_mark
from bot.services.feedback import IncomingAttachment
from bot.services.registry import Services
from storage.db import Database, fetch_all
from storage.files import FileStore
from storage.repos import misc as misc_repo
from tests import backends
from tests.clock import FakeClock
from tests.conftest import GUILD, LIMIT, STAFF, RecordingNotifier, incoming, make_assignment
from tests.snapshot import unchanged

pytestmark = pytest.mark.usefixtures("db", "files")

# Snowflake-sized ids, so the raw file can be searched for their 8-byte encoding.
INGRID = Actor(user_id=734_512_998_001_234_567, display_name="Ingrid Sekretnavn")
OLA = Actor(user_id=734_512_998_007_654_321, display_name="Ola Hemmeligsen")
KARI = Actor(user_id=734_512_998_009_999_999, display_name="Kari Andrekurs")
SECRET = b"%PDF Ingrid's secret report 1f3a9c"
SHARED = b"%PDF the course's template, handed in by both"


async def closed_lab(services: Services, clock: FakeClock, name: str = "Lab 1") -> None:
    await make_assignment(services, name, closes="+1h")
    now = clock.now()
    await services.groups.create(GUILD, INGRID, name, "4711", sent_at=now)
    await services.groups.join(GUILD, OLA, name, "4711", sent_at=now)
    await upload(services, INGRID, name, SECRET, "ingrid-secret-report.pdf")


async def upload(services: Services, actor: Actor, name: str, data: bytes, filename: str) -> None:
    await services.submissions.upload(
        GUILD,
        actor,
        name,
        incoming(data, filename),
        sent_at=services.clock.now(),
        upload_limit_bytes=LIMIT,
    )


async def close(services: Services, clock: FakeClock) -> None:
    clock.advance(timedelta(hours=2))
    await services.finalizer.finalize_due()
    await services.receipts.deliver_pending()


async def test_purge_while_open_is_refused(
    services: Services, clock: FakeClock, db: Database, files: FileStore
) -> None:
    await closed_lab(services, clock)
    async with unchanged(db, files):
        with pytest.raises(PurgeWhileOpenError):
            await services.purge.purge(GUILD, STAFF, "Lab 1")
    with pytest.raises(PurgeWhileOpenError):
        await services.purge.check(GUILD, STAFF, "Lab 1")


async def test_a_student_cannot_purge(
    services: Services, clock: FakeClock, db: Database, files: FileStore
) -> None:
    await closed_lab(services, clock)
    await close(services, clock)
    async with unchanged(db, files):
        with pytest.raises(StaffOnlyError):
            await services.purge.purge(GUILD, INGRID, "Lab 1")


async def test_the_check_says_whether_it_was_exported(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    await closed_lab(services, clock)
    await close(services, clock)
    assert not (await services.purge.check(GUILD, STAFF, "Lab 1")).exported
    await services.exports.export(GUILD, STAFF, "Lab 1", tmp_path / "out")
    assert (await services.purge.check(GUILD, STAFF, "Lab 1")).exported


async def test_a_second_purge_is_refused(services: Services, clock: FakeClock) -> None:
    await closed_lab(services, clock)
    await close(services, clock)
    await services.purge.purge(GUILD, STAFF, "Lab 1")
    with pytest.raises(AlreadyPurgedError):
        await services.purge.purge(GUILD, STAFF, "Lab 1")


async def test_a_file_another_assignment_uses_stays(
    services: Services, clock: FakeClock, files: FileStore
) -> None:
    await closed_lab(services, clock)
    await upload(services, OLA, "Lab 1", SHARED, "template.pdf")
    await make_assignment(services, "Lab 2", closes="+5h")
    await services.groups.create(GUILD, KARI, "Lab 2", "1234", sent_at=clock.now())
    await upload(services, KARI, "Lab 2", SHARED, "template.pdf")
    await close(services, clock)
    result = await services.purge.purge(GUILD, STAFF, "Lab 1")
    assert result.files_deleted == 1
    assert not files.exists(hashlib.sha256(SECRET).hexdigest())
    assert files.exists(hashlib.sha256(SHARED).hexdigest())
    # Lab 2's students and groups are untouched.
    views = await services.groups.staff_list(GUILD, STAFF, "Lab 2")
    assert [m.user_id for v in views for m in v.members] == [KARI.user_id]


async def test_the_assignment_stays_in_the_staff_list_as_purged(
    services: Services, clock: FakeClock
) -> None:
    await closed_lab(services, clock)
    await close(services, clock)
    result = await services.purge.purge(GUILD, STAFF, "Lab 1")
    purged = await services.purge.purged_in(GUILD)
    assert purged == {result.assignment.id: result.purged_at}
    [(assignment, counts)] = await services.assignments.list_for_staff(GUILD, STAFF)
    assert assignment.name == "Lab 1"
    assert (counts.candidates, counts.groups, counts.submissions) == (0, 0, 0)


def _needles() -> dict[str, bytes]:
    """What the purged assignment knew of its students, as it could appear in a file."""
    needles: dict[str, bytes] = {}
    for actor in (INGRID, OLA):
        needles[f"id {actor.user_id} (text)"] = str(actor.user_id).encode()
        # SQLite stores an integer this large as 8 bytes, big-endian.
        needles[f"id {actor.user_id} (int)"] = actor.user_id.to_bytes(8, "big")
        needles[actor.display_name] = actor.display_name.encode()
    sha = hashlib.sha256(SECRET).hexdigest()
    needles["sha256"] = sha.encode()
    needles["stored path"] = sha[2:].encode()
    needles["content"] = SECRET
    needles["file name"] = b"ingrid-secret-report"
    needles["feedback comment"] = b"Ingrid-only comment 77e1"
    return needles


async def test_nothing_of_the_students_remains_after_a_purge(
    services: Services, clock: FakeClock, db: Database, tmp_path: Path
) -> None:
    await closed_lab(services, clock)
    await close(services, clock)
    await services.feedback.import_draft(
        GUILD,
        STAFF,
        "Lab 1",
        IncomingAttachment.of("f.csv", b"4711,B,Ingrid-only comment 77e1\n"),
        file_limit=LIMIT,
    )
    await services.feedback.release(GUILD, STAFF, "Lab 1")
    await services.feedback_delivery.deliver_pending()
    await services.exports.export(GUILD, STAFF, "Lab 1", tmp_path / "out")
    # What is kept per user: their language, and a notice queued across a stop.
    services.user_locales.note(OLA.user_id, "no")
    await services.user_locales.flush()
    async with db.transaction() as conn:
        notice = [(INGRID.user_id, "Ingrid Sekretnavn's notice")]
        await misc_repo.keep_notices(conn, notice, clock.now())
    await services.purge.purge(GUILD, STAFF, "Lab 1")
    async with db.reading() as conn:
        assert await misc_repo.user_locale(conn, OLA.user_id) is None
    # The raw bytes of the database file (SQLite), its WAL and the whole data folder (stored
    # files, temp files), but the export this test wrote elsewhere; on PostgreSQL every table.
    found = _found_in_files(tmp_path)
    if backends.BACKEND != "sqlite":
        text = await _all_rows_as_text(db)
        found += [what for what, n in _needles().items() if n.decode("latin-1") in text]
    assert found == []


async def test_agreements_and_staff_hand_ins_go_with_the_purge(
    services: Services, clock: FakeClock, db: Database, tmp_path: Path
) -> None:
    """SPEC §5b's rows (who agreed to which upload, why staff handed in) are the students' too."""
    await make_assignment(services, "Lab 1", closes="+1h", all_must_confirm=True)
    now = clock.now()
    await services.groups.create(GUILD, INGRID, "Lab 1", "4711", sent_at=now)
    await services.groups.join(GUILD, OLA, "Lab 1", "4711", sent_at=now)
    await upload(services, INGRID, "Lab 1", SECRET, "ingrid-secret-report.pdf")
    for member in (INGRID, OLA):
        await services.submissions.handin(GUILD, member, "Lab 1", sent_at=clock.now())
    await close(services, clock)
    await services.staff_handins.hand_in(
        GUILD,
        STAFF,
        "Lab 1",
        "4711",
        incoming(b"%PDF mailed to the TA by Ingrid 93c1", "ingrid-secret-report-v2.pdf"),
        "Ingrid-only reason 5b2e",
        sent_at=clock.now(),
        upload_limit_bytes=LIMIT,
    )
    await services.exports.export(GUILD, STAFF, "Lab 1", tmp_path / "out")
    await services.purge.purge(GUILD, STAFF, "Lab 1")
    async with db.reading() as conn:
        assert await fetch_all(conn, "SELECT * FROM confirmations") == []
    needles = {"reason": b"Ingrid-only reason 5b2e", "staff's file": b"mailed to the TA by Ingrid"}
    students = {what: n for what, n in _needles().items() if what != "feedback comment"}
    found = _found_in_files(tmp_path, {**students, **needles})
    if backends.BACKEND != "sqlite":
        text = await _all_rows_as_text(db)
        found += [what for what, n in needles.items() if n.decode("latin-1") in text]
    assert found == []


def _found_in_files(root: Path, needles: dict[str, bytes] | None = None) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and "out" not in path.relative_to(root).parts:
            data = path.read_bytes()
            wanted = _needles() if needles is None else needles
            found += [f"{what} in {path.name}" for what, n in wanted.items() if n in data]
    return found


async def _all_rows_as_text(db: Database) -> str:
    async with db.reading() as conn:
        tables = await fetch_all(
            conn,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        )
        parts = []
        for table in tables:
            rows = await fetch_all(conn, f"SELECT * FROM {table['table_name']}")
            parts += [repr(tuple(row)) for row in rows]
    return "\n".join(parts)


async def test_a_purge_deletes_the_assignments_exports(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    purge = type(services.purge)(
        services.db, services.files, clock, RecordingNotifier(), exports_dir=out
    )
    await closed_lab(services, clock)
    await make_assignment(services, "Lab 10", closes="+5h")
    await close(services, clock)
    mine = (await services.exports.export(GUILD, STAFF, "Lab 1", out)).path
    other = out / "lab-10-20261127T120000Z.zip"
    other.write_bytes(b"not ours")
    await purge.purge(GUILD, STAFF, "Lab 1")
    assert not mine.exists()
    assert other.exists()


async def test_a_purge_leaves_another_servers_export_of_the_same_name(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    out = tmp_path / "exports"
    purge = type(services.purge)(
        services.db, services.files, clock, RecordingNotifier(), exports_dir=out
    )
    await closed_lab(services, clock)
    await close(services, clock)
    mine = (await services.exports.export(GUILD, STAFF, "Lab 1", out)).path
    lab = await services.assignments.get(GUILD, "Lab 1")
    # Another server's "Lab 1", exported into the same folder: same slug, its own mark.
    theirs = out / "lab-1-20261127T120000Z.zip"
    with zipfile.ZipFile(theirs, "w") as archive:
        archive.comment = export_mark(dataclasses.replace(lab, guild_id=GUILD + 1, id=lab.id + 1))
        archive.writestr("results.csv", "assignment\nLab 1\n")
    await purge.purge(GUILD, STAFF, "Lab 1")
    assert not mine.exists()
    assert theirs.exists()


# --- retention -----------------------------------------------------------------------------
async def test_retention_days_is_manage_server_only(services: Services) -> None:
    ta = Actor(user_id=5, display_name="TA", can_manage_guild=False)
    with pytest.raises(ManageServerOnlyError):
        await services.purge.set_retention(GUILD, ta, 30)


async def test_retention_days_out_of_range_is_refused(services: Services) -> None:
    with pytest.raises(RetentionDaysInvalidError):
        await services.purge.set_retention(GUILD, STAFF, 4000)
    assert await services.purge.retention(GUILD) is None


async def test_retention_zero_turns_it_off(services: Services) -> None:
    await services.purge.set_retention(GUILD, STAFF, 30)
    assert await services.purge.retention(GUILD) == 30
    await services.purge.set_retention(GUILD, STAFF, 0)
    assert await services.purge.retention(GUILD) is None


def _days_since(moment: datetime) -> float:
    return (datetime.now(UTC) - moment).total_seconds() / 86400


async def test_retention_purges_what_closed_that_many_days_ago(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    # The services' clock is days behind the database's (the fake starts in the past), and
    # the database's clock decides: the assignment closed more than a day before it.
    await closed_lab(services, clock)
    await close(services, clock)
    assert _days_since(clock.now()) > 2
    await services.purge.set_retention(GUILD, STAFF, 1)
    [result] = await services.purge.run_retention()
    assert result.assignment.name == "Lab 1"
    assert await services.purge.run_retention() == []
    assert notifier.retention_notices == []


async def test_retention_tells_staff_a_week_ahead_once(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await closed_lab(services, clock)
    await close(services, clock)
    days = int(_days_since(clock.now())) + 3  # due in about three days: inside the week
    await services.purge.set_retention(GUILD, STAFF, days)
    assert await services.purge.run_retention() == []
    assert await services.purge.run_retention() == []
    [(_, user_id, _at)] = notifier.retention_notices
    assert user_id == STAFF.user_id
    assert await services.purge.purged_in(GUILD) == {}


async def test_retention_leaves_open_assignments_alone(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await make_assignment(services, "Later", closes="+30d")
    await services.purge.set_retention(GUILD, STAFF, 1)
    assert await services.purge.run_retention() == []
    assert notifier.retention_notices == []
