"""`/groups handin`: staff hand in a file on a group's behalf (SPEC §5b)."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.errors import (
    AssignmentNotFoundError,
    DiskLowError,
    DownloadFailedError,
    EmptyFileError,
    FileTooLargeError,
    FileTypeError,
    GroupNotFoundError,
    NoPartsError,
    PartRequiredError,
    StaffOnlyError,
    StaffReasonError,
    UnknownPartError,
)
from bot.domain.quotas import FreeSpaceReserve
from bot.services.registry import Services, build_services
from bot.services.staff_handin import REASON_MAX, StaffHandInResult
from bot.services.submissions import IncomingFile
from storage.db import Database
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import GUILD, STAFF, RecordingNotifier, incoming, make_assignment, sha
from tests.conftest import student as student_actor
from tests.filestore import intact
from tests.services.test_diskspace import SmallDisk
from tests.snapshot import unchanged

ALICE, BOB = student_actor(11), student_actor(12)
REASON = "upload failed on the train; the file was mailed to the TA"
TA_FILE = b"%PDF mailed to the TA"


async def pair(services: Services, **options: object) -> None:
    """Lab 1 with Alice and Bob in group 1234."""
    await make_assignment(services, **options)  # type: ignore[arg-type]
    now = services.clock.now()
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=now)
    await services.groups.join(GUILD, BOB, "Lab 1", "1234", sent_at=now)


async def staff_handin(
    services: Services,
    file: IncomingFile | None = None,
    *,
    pin: str = "1234",
    reason: str = REASON,
    name: str = "Lab 1",
    part: str | None = None,
    actor: object = STAFF,
    interaction_id: int | None = None,
) -> StaffHandInResult:
    return await services.staff_handins.hand_in(
        GUILD,
        actor,  # type: ignore[arg-type]
        name,
        pin,
        file or incoming(TA_FILE, "mailed.pdf"),
        reason,
        sent_at=services.clock.now(),
        upload_limit_bytes=10 * 1024 * 1024,
        part=part,
        interaction_id=interaction_id,
    )


# --- what it records -----------------------------------------------------------------------
async def test_staff_handin_stores_the_file_as_the_groups_upload_by_staff(
    services: Services, files: FileStore
) -> None:
    await pair(services)
    result = await staff_handin(services)
    upload = result.upload
    assert upload.by_staff and upload.user_id == STAFF.user_id
    assert (upload.filename, upload.sha256, upload.sent_at) == (
        "mailed.pdf",
        sha(TA_FILE),
        services.clock.now(),
    )
    assert intact(files, upload.sha256)
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    [handin] = status.handins
    assert handin.by_staff and handin.staff_reason == REASON and handin.user_id == STAFF.user_id


async def test_the_same_interaction_delivered_twice_hands_in_once(
    services: Services, notifier: RecordingNotifier
) -> None:
    await pair(services)
    first = await staff_handin(services, interaction_id=9001)
    again = await staff_handin(
        services, incoming(b"%PDF another", "other.pdf"), interaction_id=9001
    )
    assert again.duplicate and again.upload == first.upload and again.change is None
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert [u.id for u in status.uploads] == [first.upload.id] and len(status.handins) == 1
    assert await services.receipts.deliver_pending() == 2


async def test_the_same_interaction_twice_at_once_hands_in_once(services: Services) -> None:
    await pair(services)
    results = await asyncio.gather(
        staff_handin(services, interaction_id=9002),
        staff_handin(services, incoming(b"%PDF another", "other.pdf"), interaction_id=9002),
    )
    assert sorted(r.duplicate for r in results) == [False, True]
    assert results[0].upload.id == results[1].upload.id
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert len(status.uploads) == 1 and len(status.handins) == 1


async def test_staff_handin_is_final_at_once_and_every_member_gets_a_receipt_saying_why(
    services: Services, notifier: RecordingNotifier
) -> None:
    await pair(services)
    result = await staff_handin(services)
    assert result.change is not None and result.change.receipts == 2
    assert await services.receipts.deliver_pending() == 2
    assert sorted(r.user_id for r in notifier.receipts) == sorted([ALICE.user_id, BOB.user_id])
    assert {r.staff_reason for r in notifier.receipts} == {REASON}
    assert {r.upload.sha256 for r in notifier.receipts} == {sha(TA_FILE)}


async def test_staff_handin_after_the_deadline_is_accepted_and_not_late(
    services: Services, clock: FakeClock
) -> None:
    await pair(services, auto_submit=False)
    clock.advance(3 * 3600)
    await services.finalizer.finalize_due()
    result = await staff_handin(services)
    assert result.change is not None and not result.change.late
    assert result.change.upload is not None and result.change.upload.id == result.upload.id


async def test_staff_handin_replaces_a_finalized_groups_final_with_a_corrected_receipt(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    await pair(services)
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"%PDF wrong version"), sent_at=clock.now()
    )
    clock.advance(3 * 3600)
    await services.finalizer.finalize_due()
    assert await services.receipts.deliver_pending() == 2
    result = await staff_handin(services)
    assert result.change is not None and result.change.revision == 2
    assert await services.receipts.deliver_pending() == 2
    corrected = notifier.receipts[2:]
    assert all(r.replaces and r.staff_reason == REASON for r in corrected)
    assert {r.upload.sha256 for r in corrected} == {sha(TA_FILE)}


async def test_a_later_upload_by_the_group_before_the_deadline_replaces_the_staff_handin(
    services: Services, clock: FakeClock
) -> None:
    await pair(services)
    await staff_handin(services)
    clock.advance(60)
    newer = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"%PDF newer"), sent_at=clock.now()
    )
    assert newer.correction is not None and newer.correction.upload is not None
    assert newer.correction.upload.id == newer.upload.id


async def test_an_upload_before_the_staff_handin_does_not_replace_it(
    services: Services, clock: FakeClock
) -> None:
    await pair(services)
    sent_earlier = clock.now()
    clock.advance(60)
    result = await staff_handin(services)
    # Sent before staff decided, delivered after (lag): the staff hand-in stays final.
    earlier = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"%PDF lagging"), sent_at=sent_earlier
    )
    assert earlier.correction is None
    status = await services.submissions.status(GUILD, BOB, "Lab 1")
    assert status.submission is not None and status.submission.upload is not None
    assert status.submission.upload.id == result.upload.id


async def test_staff_handin_of_a_submit_once_group_that_handed_in_replaces_its_final(
    services: Services, clock: FakeClock
) -> None:
    await pair(services, submit_once=True)
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"%PDF a"), sent_at=clock.now()
    )
    await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=clock.now())
    clock.advance(1)
    result = await staff_handin(services)
    assert result.change is not None and result.change.upload is not None
    assert result.change.upload.id == result.upload.id


async def test_staff_handin_of_a_part_replaces_only_that_part(
    services: Services, clock: FakeClock
) -> None:
    await pair(services, parts="report:pdf; code:zip")
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"PK code", "code.zip"), sent_at=clock.now(), part="code"
    )
    clock.advance(1)
    result = await staff_handin(services, part="report")
    assert result.part is not None and result.part.name == "report"
    assert result.change is not None
    finals = {f.part.name: f.upload for f in result.change.parts}
    assert finals["report"] is not None and finals["report"].id == result.upload.id
    assert finals["code"] is not None and finals["code"].filename == "code.zip"


async def test_overview_marks_the_staff_handin_with_its_reason(services: Services) -> None:
    await pair(services)
    await staff_handin(services)
    overview = await services.assignments.overview(GUILD, STAFF, "Lab 1")
    [group] = overview.groups
    assert group.staff_reason == REASON


async def test_export_says_staff_for_uploaded_by_and_handed_in_by(
    services: Services, clock: FakeClock, tmp_path: Path
) -> None:
    await pair(services)
    await staff_handin(services)
    clock.advance(3 * 3600)
    await services.finalizer.finalize_due()
    result = await services.exports.export(GUILD, STAFF, "Lab 1", tmp_path)
    with zipfile.ZipFile(result.path) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("results.csv").decode())))
    [row] = rows
    assert (row["uploaded_by"], row["handed_in_by"], row["status"], row["late"]) == (
        "staff",
        "staff",
        "submitted",
        "no",
    )
    assert row["sha256"] == sha(TA_FILE)


# --- refusals: each leaves the hand-in as it was --------------------------------------------
async def test_staff_handin_for_an_unknown_pin_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(GroupNotFoundError):
            await staff_handin(services, pin="9999")


async def test_staff_handin_for_an_unknown_assignment_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(AssignmentNotFoundError):
            await staff_handin(services, name="Lab 9")


async def test_staff_handin_by_a_student_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(StaffOnlyError):
            await staff_handin(services, actor=ALICE)


@pytest.mark.parametrize("reason", ["", "   ", "x" * (REASON_MAX + 1)])
async def test_staff_handin_without_a_fitting_reason_is_refused(
    services: Services, db: Database, files: FileStore, reason: str
) -> None:
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(StaffReasonError):
            await staff_handin(services, reason=reason)


async def test_staff_handin_without_a_part_when_the_assignment_has_parts_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services, parts="report:pdf; code:zip")
    async with unchanged(db, files):
        with pytest.raises(PartRequiredError):
            await staff_handin(services)


async def test_staff_handin_for_an_unknown_part_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services, parts="report:pdf; code:zip")
    async with unchanged(db, files):
        with pytest.raises(UnknownPartError):
            await staff_handin(services, part="slides")


async def test_staff_handin_with_a_part_when_the_assignment_has_none_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(NoPartsError):
            await staff_handin(services, part="report")


async def test_staff_handin_over_the_size_limit_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services, max_file_mb=0.001)
    async with unchanged(db, files):
        with pytest.raises(FileTooLargeError):
            await staff_handin(services, incoming(b"x" * 2000))


async def test_staff_handin_of_a_refused_type_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services, file_types="pdf")
    async with unchanged(db, files):
        with pytest.raises(FileTypeError):
            await staff_handin(services, incoming(b"x", "notes.docx"))


async def test_staff_handin_of_zero_bytes_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(EmptyFileError):
            await staff_handin(services, incoming(b""))


async def test_staff_handin_whose_download_fails_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise OSError("connection reset")

    async with unchanged(db, files):
        with pytest.raises(DownloadFailedError):
            await staff_handin(services, IncomingFile("a.pdf", 100, None, broken))


async def test_staff_handin_whose_body_is_shorter_than_declared_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(DownloadFailedError):
            await staff_handin(services, incoming(b"short", declared=100))


async def test_staff_handin_while_the_disk_is_low_is_refused(
    db: Database, files: FileStore, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    small = build_services(
        db,
        files,
        clock,
        notifier,
        free_space=SmallDisk(files.root, total=300 * 1024),
        reserve=FreeSpaceReserve(min_free_bytes=256 * 1024, min_free_fraction=0.0),
    )
    await pair(small)
    async with unchanged(db, files):
        with pytest.raises(DiskLowError):
            await staff_handin(small, incoming(b"x" * 64 * 1024))
