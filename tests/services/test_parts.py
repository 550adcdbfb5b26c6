"""Hand-ins in several parts (SPEC §6): parts on create and edit, uploads per part, per-part
finals, the hand-in of every part at once, receipts, status, download, reminders, the overview,
the export, and identical files across groups."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.errors import (
    AlreadySubmittedError,
    DomainError,
    FileTypeError,
    LeaseHeldError,
    NoPartsError,
    NothingToHandInError,
    PartDuplicateError,
    PartFileTypeError,
    PartNameInvalidError,
    PartRequiredError,
    PartsAfterUploadsError,
    PartsInUseError,
    PartTypesInvalidError,
    TooManyPartsError,
    UnknownPartError,
)
from bot.domain.models import Assignment, ReminderReason
from bot.domain.rules import parse_parts
from bot.services.assignments import AssignmentOptions
from bot.services.exports import ExportService
from bot.services.registry import Services
from bot.services.submissions import UploadResult
from storage.db import Database, fetch_all
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import (
    GUILD,
    LIMIT,
    STAFF,
    RecordingNotifier,
    incoming,
    later,
    make_assignment,
    sha,
    student,
)
from tests.snapshot import snapshot

ALICE, BOB, CAROL = student(1), student(2), student(3)
PARTS = "report:pdf; code:zip,tar.gz"
PART_TABLES = ("assignments", "assignment_parts", "submission_parts")


async def full_snapshot(db: Database, files: FileStore) -> dict[str, Any]:
    state = await snapshot(db, files)
    async with db.reading() as conn:
        for table in PART_TABLES:
            rows = await fetch_all(conn, f"SELECT * FROM {table} ORDER BY 1, 2")
            state[table] = [tuple(row) for row in rows]
    return state


@asynccontextmanager
async def unchanged(db: Database, files: FileStore) -> AsyncIterator[None]:
    before = await full_snapshot(db, files)
    yield
    assert await full_snapshot(db, files) == before


async def two_parts(services: Services, **options: object) -> Assignment:
    """Lab 1 in parts `report` (pdf) and `code` (zip, tar.gz); Alice and Bob in 1234."""
    created = await make_assignment(services, parts=PARTS, **options)  # type: ignore[arg-type]
    now = services.clock.now()
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=now)
    await services.groups.join(GUILD, BOB, "Lab 1", "1234", sent_at=now)
    return created


async def put(
    services: Services, data: bytes, filename: str, part: str | None, seconds: float = 60
) -> UploadResult:
    return await services.submissions.upload(
        GUILD,
        ALICE,
        "Lab 1",
        incoming(data, filename),
        sent_at=services.clock.now() + timedelta(seconds=seconds),
        part=part,
    )


async def close(services: Services, clock: FakeClock, seconds: float = 7200) -> None:
    clock.advance(seconds)
    await services.finalizer.finalize_due()


# --- parsing -------------------------------------------------------------------------------
def test_parts_parse_with_and_without_types() -> None:
    assert parse_parts(" report : PDF ;code:zip, .tar.gz; notes ") == (
        ("report", ("pdf",)),
        ("code", ("zip", "tar.gz")),
        ("notes", ()),
    )


@pytest.mark.parametrize("text", ["", "none", "off"])
def test_no_parts_parse_as_empty(text: str) -> None:
    assert parse_parts(text) == ()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("report:pdf; re port:zip", PartNameInvalidError),
        ("rapport/1:pdf", PartNameInvalidError),
        ("x" * 33, PartNameInvalidError),
        (":pdf", PartNameInvalidError),
        ("report:pdf; Report:zip", PartDuplicateError),
        ("report:p d f", PartTypesInvalidError),
        ("; ".join(f"p{n}" for n in range(11)), TooManyPartsError),
    ],
)
async def test_bad_parts_on_create_are_refused_and_nothing_is_created(
    services: Services, db: Database, files: FileStore, text: str, error: type[DomainError]
) -> None:
    async with unchanged(db, files):
        with pytest.raises(error):
            await make_assignment(services, parts=text)


async def test_create_with_parts_keeps_them_in_order_with_their_types(services: Services) -> None:
    created = await make_assignment(services, parts=PARTS)
    assert [(p.name, p.file_types) for p in created.parts] == [
        ("report", ("pdf",)),
        ("code", ("zip", "tar.gz")),
    ]


async def test_an_assignment_without_parts_has_none(services: Services) -> None:
    assert (await make_assignment(services)).parts == ()


# --- edit ----------------------------------------------------------------------------------
async def edit(services: Services, **options: Any) -> Assignment:
    return await services.assignments.edit(
        GUILD,
        STAFF,
        "Lab 1",
        AssignmentOptions(**options),
        sent_at=services.clock.now(),
        upload_limit_bytes=LIMIT,
    )


async def test_edit_adds_a_part_and_changes_types_of_a_used_one(services: Services) -> None:
    await two_parts(services)
    await put(services, b"%PDF", "r.pdf", "report")
    before = await services.assignments.get(GUILD, "Lab 1")
    edited = await edit(services, parts="report:pdf,docx; code:zip; slides")
    assert [(p.name, p.file_types) for p in edited.parts] == [
        ("report", ("pdf", "docx")),
        ("code", ("zip",)),
        ("slides", ()),
    ]
    # The part with the upload is the same part.
    assert edited.parts[0].id == before.parts[0].id


@pytest.mark.parametrize("parts", ["code:zip", "rapport:pdf; code:zip", "none"])
async def test_edit_removing_or_renaming_a_used_part_is_refused(
    services: Services, db: Database, files: FileStore, parts: str
) -> None:
    await two_parts(services)
    await put(services, b"%PDF", "r.pdf", "report")
    async with unchanged(db, files):
        with pytest.raises(PartsInUseError) as refused:
            await edit(services, parts=parts, max_uploads=50)
    assert "`report`" in refused.value.params["parts"]


async def test_edit_removes_a_part_nobody_uploaded_to(services: Services) -> None:
    await two_parts(services)
    await put(services, b"%PDF", "r.pdf", "report")
    edited = await edit(services, parts="report:pdf")
    assert [p.name for p in edited.parts] == ["report"]


async def test_edit_adding_parts_after_uploads_without_parts_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    now = services.clock.now()
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=now)
    await put(services, b"%PDF", "r.pdf", None)
    async with unchanged(db, files):
        with pytest.raises(PartsAfterUploadsError):
            await edit(services, parts=PARTS)


async def test_edit_adds_parts_to_an_assignment_nobody_uploaded_to(services: Services) -> None:
    await make_assignment(services)
    edited = await edit(services, parts=PARTS)
    assert [p.name for p in edited.parts] == ["report", "code"]
    assert (await edit(services, parts="none")).parts == ()


async def test_the_schema_refuses_deleting_a_part_with_uploads(
    services: Services, db: Database
) -> None:
    created = await two_parts(services)
    await put(services, b"%PDF", "r.pdf", "report")
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM assignment_parts WHERE id = ?", (created.parts[0].id,))


async def test_the_schema_refuses_an_upload_without_a_part_in_an_assignment_with_parts(
    services: Services, db: Database
) -> None:
    await two_parts(services)
    result = await put(services, b"%PDF", "r.pdf", "report")
    with pytest.raises(Exception, match="part"):
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO uploads (group_id, user_id, filename, size, sha256, sent_at,"
                " stored_at) SELECT group_id, user_id, filename, size, sha256, sent_at, stored_at"
                " FROM uploads WHERE id = ?",
                (result.upload.id,),
            )


# --- uploads -------------------------------------------------------------------------------
async def test_upload_to_a_part_records_the_part(services: Services) -> None:
    created = await two_parts(services)
    result = await put(services, b"PK zip", "code.ZIP", "Code")
    assert result.upload.part_id == created.parts[1].id


@pytest.mark.parametrize(
    ("part", "filename", "error"),
    [
        (None, "r.pdf", PartRequiredError),
        ("  ", "r.pdf", PartRequiredError),
        ("slides", "r.pdf", UnknownPartError),
        ("report", "code.zip", PartFileTypeError),
        ("code", "r.pdf", PartFileTypeError),
    ],
)
async def test_bad_uploads_to_parts_are_refused_and_change_nothing(
    services: Services,
    db: Database,
    files: FileStore,
    part: str | None,
    filename: str,
    error: type[DomainError],
) -> None:
    await two_parts(services)
    await put(services, b"%PDF first", "r.pdf", "report")
    async with unchanged(db, files):
        with pytest.raises(error):
            await put(services, b"other bytes", filename, part)


async def test_part_on_an_assignment_without_parts_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=services.clock.now())
    async with unchanged(db, files):
        with pytest.raises(NoPartsError):
            await put(services, b"%PDF", "r.pdf", "report")


async def test_a_part_without_types_takes_the_assignments_types(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, parts="report; code:zip", file_types="pdf")
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=services.clock.now())
    await put(services, b"%PDF", "r.pdf", "report")
    await put(services, b"PK", "c.zip", "code")
    async with unchanged(db, files):
        with pytest.raises(FileTypeError):
            await put(services, b"doc", "r.docx", "report")


async def test_part_autocomplete_lists_the_parts_that_match(services: Services) -> None:
    await two_parts(services)
    assert await services.submissions.part_names(GUILD, "lab 1", "") == ["report", "code"]
    assert await services.submissions.part_names(GUILD, "Lab 1", "CO") == ["code"]
    assert await services.submissions.part_names(GUILD, "nope", "") == []


# --- finals and receipts -------------------------------------------------------------------
async def test_each_part_final_is_its_latest_upload_and_the_receipt_lists_every_part(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await two_parts(services)
    await put(services, b"%PDF draft", "draft.pdf", "report", 60)
    await put(services, b"PK code", "code.zip", "code", 120)
    await put(services, b"%PDF final", "final.pdf", "report", 180)
    await close(services, clock)
    await services.receipts.deliver_pending()
    assert len(notifier.receipts) == 2
    receipt = notifier.receipts[0]
    assert [(p.part.name, p.upload and p.upload.sha256) for p in receipt.parts] == [
        ("report", sha(b"%PDF final")),
        ("code", sha(b"PK code")),
    ]
    assert not receipt.late


async def test_a_group_missing_a_part_has_no_submission_for_it(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await two_parts(services)
    await put(services, b"%PDF", "r.pdf", "report")
    await close(services, clock)
    await services.receipts.deliver_pending()
    parts = notifier.receipts[0].parts
    assert parts[0].upload is not None and parts[1].upload is None
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert status.submission is not None
    assert [p.upload is None for p in status.submission.parts] == [False, True]


async def test_finalizing_again_records_no_new_revision(
    services: Services, db: Database, clock: FakeClock
) -> None:
    await two_parts(services)
    await put(services, b"%PDF", "r.pdf", "report")
    await close(services, clock)
    assert await services.finalizer.finalize_due() == []
    rows = await fetch_all(db.conn, "SELECT count(*) FROM submissions")
    assert rows[0][0] == 1


async def test_handin_hands_in_every_parts_latest_upload_at_once(
    services: Services, clock: FakeClock
) -> None:
    await two_parts(services, auto_submit=False)
    await put(services, b"%PDF", "r.pdf", "report", 60)
    await put(services, b"PK", "c.zip", "code", 120)
    result = await services.submissions.handin(GUILD, BOB, "Lab 1", sent_at=later(clock, 180))
    assert [(p.part.name, p.upload and p.upload.filename) for p in result.parts] == [
        ("report", "r.pdf"),
        ("code", "c.zip"),
    ]
    # A later upload to one part is not handed in: that part keeps the handed-in file.
    await put(services, b"PK v2", "c2.zip", "code", 240)
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert status.latest_not_handed_in
    await close(services, clock)
    final = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert final.submission is not None
    assert [p.upload and p.upload.filename for p in final.submission.parts] == ["r.pdf", "c.zip"]


async def test_handin_with_a_missing_part_hands_in_the_others(
    services: Services, clock: FakeClock
) -> None:
    await two_parts(services, auto_submit=False)
    await put(services, b"PK", "c.zip", "code")
    result = await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=later(clock, 90))
    assert [p.upload is None for p in result.parts] == [True, False]


async def test_handin_with_nothing_in_any_part_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await two_parts(services, auto_submit=False)
    async with unchanged(db, files):
        with pytest.raises(NothingToHandInError):
            await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=services.clock.now())


async def test_submit_once_applies_to_the_hand_in_as_a_whole(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await two_parts(services, submit_once=True)
    await put(services, b"%PDF", "r.pdf", "report", 60)
    await put(services, b"PK", "c.zip", "code", 70)
    result = await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=later(clock, 80))
    assert result.final is not None and result.final.receipts == 2
    async with unchanged(db, files):
        with pytest.raises(AlreadySubmittedError):
            await put(services, b"%PDF v2", "r2.pdf", "report", 90)


async def test_a_late_part_makes_the_receipt_late(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await two_parts(services, late_until="+3h")
    await put(services, b"%PDF", "r.pdf", "report", 60)
    await put(services, b"PK", "c.zip", "code", 2 * 3600 + 60)
    await close(services, clock, 3 * 3600 + 10)
    await services.receipts.deliver_pending()
    receipt = notifier.receipts[0]
    assert receipt.late
    assert [p.late for p in receipt.parts] == [False, True]


# --- status, download, reminders -----------------------------------------------------------
async def test_download_gives_each_parts_file(services: Services, clock: FakeClock) -> None:
    await two_parts(services)
    await put(services, b"%PDF", "r.pdf", "report")
    result = await services.submissions.download_files(GUILD, BOB, "Lab 1")
    assert [(f.part and f.part.name, f.upload.filename) for f in result.files] == [
        ("report", "r.pdf")
    ]
    assert [p.name for p in result.missing] == ["code"]
    assert not result.final
    await put(services, b"PK", "c.zip", "code")
    await close(services, clock)
    done = await services.submissions.download_files(GUILD, BOB, "Lab 1")
    assert done.final and len(done.files) == 2
    async with services.submissions.local_copy(done.files[1].upload) as path:
        assert path.read_bytes() == b"PK"


async def test_reminders_name_the_missing_part(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    created = await two_parts(services)
    await put(services, b"%PDF", "r.pdf", "report")
    due = created.closes_at - timedelta(hours=1)
    clock.advance((due - clock.now()).total_seconds())
    await services.reminders.send_due(created.id, due)
    assert {(r.user_id, r.reason, r.parts) for r in notifier.reminders} == {
        (ALICE.user_id, ReminderReason.MISSING_PART, ("code",)),
        (BOB.user_id, ReminderReason.MISSING_PART, ("code",)),
    }


# --- export, overview, identical files -----------------------------------------------------
async def unpack(services: Services, out: Path) -> tuple[list[dict[str, str]], set[str]]:
    exports = ExportService(services.db, services.files, services.clock)
    result = await exports.export(GUILD, STAFF, "Lab 1", out)
    with zipfile.ZipFile(result.path) as archive:
        names = set(archive.namelist())
        rows = list(csv.DictReader(io.StringIO(archive.read("results.csv").decode())))
    return rows, names


async def test_export_lays_out_parts_and_has_a_row_per_group_and_part(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    await two_parts(services)
    await services.groups.create(GUILD, CAROL, "Lab 1", "5678", sent_at=clock.now())
    await put(services, b"%PDF", "report.pdf", "report")
    await put(services, b"PK", "code.zip", "code")
    await close(services, clock)
    rows, names = await unpack(services, tmp_path / "out")
    assert {"1234/report/report.pdf", "1234/code/code.zip"} <= names
    got = [(r["group_pin"], r["part"], r["final_file"], r["status"]) for r in rows]
    assert got == [
        ("1234", "report", "1234/report/report.pdf", "submitted"),
        ("1234", "code", "1234/code/code.zip", "submitted"),
        ("5678", "report", "", "no submission"),
        ("5678", "code", "", "no submission"),
    ]


async def test_identical_files_across_groups_are_flagged_per_part(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    await two_parts(services)
    await services.groups.create(GUILD, CAROL, "Lab 1", "5678", sent_at=clock.now())
    same = b"%PDF the very same"
    await put(services, same, "ours.pdf", "report")
    await services.submissions.upload(
        GUILD, CAROL, "Lab 1", incoming(same, "theirs.pdf"), sent_at=later(clock, 70), part="report"
    )
    # The same bytes in different parts are not the same hand-in.
    await put(services, same, "same.zip", "code")
    await close(services, clock)
    rows, _ = await unpack(services, tmp_path / "out")
    flagged = {(r["group_pin"], r["part"]): r["same_file_as"] for r in rows}
    assert flagged == {
        ("1234", "report"): "5678",
        ("1234", "code"): "",
        ("5678", "report"): "1234",
        ("5678", "code"): "",
    }
    overview = await services.assignments.overview(GUILD, STAFF, "Lab 1")
    assert [(i.part, i.pins, i.sha256) for i in overview.identical] == [
        ("report", ("1234", "5678"), sha(same))
    ]


async def test_identical_files_without_parts_are_flagged_too(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    await make_assignment(services)
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=clock.now())
    await services.groups.create(GUILD, CAROL, "Lab 1", "5678", sent_at=clock.now())
    for who in (ALICE, CAROL):
        await services.submissions.upload(
            GUILD, who, "Lab 1", incoming(b"copied"), sent_at=later(clock, 60)
        )
    await close(services, clock)
    rows, names = await unpack(services, tmp_path / "out")
    assert [(r["part"], r["same_file_as"]) for r in rows] == [("", "5678"), ("", "1234")]
    assert "1234/report.pdf" in names


async def test_students_status_shows_only_their_own_group(
    services: Services, clock: FakeClock
) -> None:
    await two_parts(services)
    await services.groups.create(GUILD, CAROL, "Lab 1", "5678", sent_at=clock.now())
    await put(services, b"same", "a.pdf", "report")
    await services.submissions.upload(
        GUILD, CAROL, "Lab 1", incoming(b"same", "b.pdf"), sent_at=later(clock, 70), part="report"
    )
    status = await services.submissions.status(GUILD, CAROL, "Lab 1")
    assert {u.filename for u in status.uploads} == {"b.pdf"}
    assert not hasattr(status, "identical")


async def test_the_edit_lease_covers_every_part(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await two_parts(services, single_editor=True)
    await put(services, b"%PDF", "r.pdf", "report", 60)
    async with unchanged(db, files):
        with pytest.raises(LeaseHeldError):
            await services.submissions.upload(
                GUILD, BOB, "Lab 1", incoming(b"PK", "c.zip"), sent_at=later(clock, 70),
                part="code",
            )  # fmt: skip


async def test_an_upload_sent_in_time_but_stored_after_finalizing_corrects_the_receipt(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    created = await two_parts(services)
    await put(services, b"%PDF", "r.pdf", "report", 60)
    await close(services, clock)
    await services.receipts.deliver_pending()
    delayed = await services.submissions.upload(
        GUILD, BOB, "Lab 1", incoming(b"PK", "c.zip"),
        sent_at=created.closes_at - timedelta(seconds=1), part="code",
    )  # fmt: skip
    assert delayed.correction is not None and delayed.correction.replaces
    await services.receipts.deliver_pending()
    latest = notifier.receipts[-1]
    assert latest.replaces and latest.revision == 2
    assert [p.upload and p.upload.filename for p in latest.parts] == ["r.pdf", "c.zip"]


async def test_an_extended_group_keeps_its_parts_open(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    created = await two_parts(services)
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "1234", "+3h", sent_at=clock.now())
    clock.advance((created.closes_at - clock.now()).total_seconds() + 60)
    await services.finalizer.finalize_due()
    result = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"PK", "c.zip"), sent_at=clock.now(), part="code"
    )
    assert not result.upload.late
