"""Feedback (SPEC §7): the import's all-or-nothing draft, the release's DMs, the students' view."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.domain.delivery import Delivery, DmFailure
from bot.domain.errors import (
    CsvImportError,
    CsvTooLargeError,
    FeedbackAlreadyReleasedError,
    FeedbackNoGroupError,
    FeedbackNoneForGroupError,
    FeedbackNothingToReleaseError,
    FeedbackNotReleasedError,
    FeedbackZipBadError,
    FeedbackZipEntryError,
    FeedbackZipFileTooLargeError,
    FeedbackZipTooLargeError,
    FeedbackZipUnknownPinError,
    StaffOnlyError,
)
from bot.services.feedback import MAX_ZIP_BYTES, IncomingAttachment
from bot.services.registry import Services
from storage.db import Database, fetch_all
from storage.files import FileStore
from storage.repos import feedback as feedback_repo
from tests.clock import FakeClock
from tests.conftest import GUILD, LIMIT, STAFF, RecordingNotifier, make_assignment, student
from tests.snapshot import snapshot

pytestmark = pytest.mark.usefixtures("db", "files")

FEEDBACK_TABLES = ("feedback", "feedback_files", "feedback_releases", "feedback_deliveries")


def csv(text: str) -> IncomingAttachment:
    return IncomingAttachment.of("feedback.csv", text.encode())


def zip_of(entries: dict[str, bytes]) -> IncomingAttachment:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in entries.items():
            bundle.writestr(name, data)
    return IncomingAttachment.of("feedback.zip", buffer.getvalue())


async def course(services: Services) -> None:
    """Lab 1 with groups 1111 (students 1, 2) and 2222 (student 3); student 4 has no group."""
    await make_assignment(services)
    now = services.clock.now()
    await services.groups.create(GUILD, student(1), "Lab 1", "1111", sent_at=now)
    await services.groups.join(GUILD, student(2), "Lab 1", "1111", sent_at=now)
    await services.groups.create(GUILD, student(3), "Lab 1", "2222", sent_at=now)
    await services.groups.ready(GUILD, student(4), "Lab 1")


async def state(db: Database, files: FileStore) -> dict[str, Any]:
    found = await snapshot(db, files)
    async with db.reading() as conn:
        for table in FEEDBACK_TABLES:
            found[table] = [tuple(r) for r in await fetch_all(conn, f"SELECT * FROM {table}")]
    return found


@asynccontextmanager
async def unchanged(db: Database, files: FileStore) -> AsyncIterator[None]:
    before = await state(db, files)
    yield
    assert await state(db, files) == before


async def import_(services: Services, text: str, bundle: IncomingAttachment | None = None) -> Any:
    return await services.feedback.import_draft(
        GUILD, STAFF, "Lab 1", csv(text), bundle, file_limit=LIMIT
    )


GOOD = 'group_pin,grade,comment\n1111,B,Solid work\n2222,C,"Clear, but short"\n'


# --- import --------------------------------------------------------------------------------
async def test_import_stores_a_draft_with_its_files(services: Services, files: FileStore) -> None:
    await course(services)
    bundle = zip_of({"1111/notes.pdf": b"%PDF notes", "2222/sub/..\\evil:name.txt": b"hi"})
    summary = await import_(services, GOOD, bundle)
    assert (summary.groups, summary.files, summary.replaced) == (2, 2, 0)
    async with services.db.reading() as conn:
        rows = await fetch_all(conn, "SELECT filename, sha256 FROM feedback_files ORDER BY 1")
    # Sanitized as the export's names: the last part only, Windows' reserved characters out.
    assert [r["filename"] for r in rows] == ["evil_name.txt", "notes.pdf"]
    assert all(files.exists(r["sha256"]) for r in rows)


async def test_importing_again_replaces_the_draft(services: Services) -> None:
    await course(services)
    await import_(services, GOOD)
    summary = await import_(services, "1111,A,Better\n")
    assert summary.replaced == 2
    async with services.db.reading() as conn:
        rows = await fetch_all(conn, "SELECT grade, comment FROM feedback")
    assert [tuple(r) for r in rows] == [("A", "Better")]


async def test_the_header_and_the_comment_are_optional(services: Services) -> None:
    await course(services)
    assert (await import_(services, "1111,Pass\n")).groups == 1


@pytest.mark.parametrize(
    ("text", "line", "key"),
    [
        ("group_pin,grade,comment\n1111,B,ok\n9999,A,x\n", 3, "feedback.csv.unknown_pin"),
        ("1111,B,ok\n2222,C,x\n1111,A,again\n", 3, "feedback.csv.duplicate"),
        ("1111,B,ok\n2222\n", 2, "feedback.csv.columns"),
        ("11a1,B,ok\n", 1, "feedback.csv.bad_pin"),
        ("1111,,\n", 1, "feedback.csv.empty_row"),
        ("1111," + "A" * 101 + ",x\n", 1, "feedback.csv.grade_too_long"),
        ("", 1, "csv.empty"),
    ],
    ids=["unknown_pin", "duplicate_pin", "columns", "bad_pin", "empty_row", "long_grade", "empty"],
)
async def test_a_bad_csv_line_is_refused_by_its_number(
    services: Services, db: Database, files: FileStore, text: str, line: int, key: str
) -> None:
    await course(services)
    await import_(services, "1111,Old,kept\n")
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as info:
            await import_(services, text)
    assert (line, key) in [(p[0], p[1]) for p in info.value.problems]


async def test_a_csv_that_is_not_utf8_is_refused_at_its_line(
    services: Services, db: Database, files: FileStore
) -> None:
    await course(services)
    async with unchanged(db, files):
        with pytest.raises(CsvImportError) as info:
            await services.feedback.import_draft(
                GUILD,
                STAFF,
                "Lab 1",
                IncomingAttachment.of("f.csv", "1111,B,ok\n2222,C,bl\u00e5\n".encode("latin-1")),
                file_limit=LIMIT,
            )
    assert info.value.problems == [(2, "csv.bad_encoding", {})]


async def test_every_bad_line_is_listed(services: Services) -> None:
    await course(services)
    with pytest.raises(CsvImportError) as info:
        await import_(services, "9998,A,x\n9999,B,y\n")
    assert [p[0] for p in info.value.problems] == [1, 2]


async def test_a_csv_over_the_limit_is_refused_before_download(services: Services) -> None:
    await course(services)
    large = IncomingAttachment("f.csv", 2 * 1024 * 1024, csv("").read)
    with pytest.raises(CsvTooLargeError):
        await services.feedback.import_draft(GUILD, STAFF, "Lab 1", large, file_limit=LIMIT)


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        ({"notes.pdf": b"x"}, FeedbackZipEntryError),
        ({"team/notes.pdf": b"x"}, FeedbackZipEntryError),
        ({"3333/notes.pdf": b"x"}, FeedbackZipUnknownPinError),
    ],
    ids=["top_level", "not_a_pin_folder", "pin_not_in_csv"],
)
async def test_a_zip_entry_outside_a_pin_folder_is_refused(
    services: Services,
    db: Database,
    files: FileStore,
    entries: dict[str, bytes],
    error: type[Exception],
) -> None:
    await course(services)
    good = {"1111/ok.pdf": b"fine"}
    async with unchanged(db, files):
        with pytest.raises(error):
            await import_(services, GOOD, zip_of(good | entries))


async def test_a_zip_file_larger_than_discord_takes_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await course(services)
    async with unchanged(db, files):
        with pytest.raises(FeedbackZipFileTooLargeError):
            await services.feedback.import_draft(
                GUILD,
                STAFF,
                "Lab 1",
                csv(GOOD),
                zip_of({"1111/big.bin": b"x" * 2000}),
                file_limit=1000,
            )


async def test_a_zip_over_the_limit_is_refused_before_download(services: Services) -> None:
    await course(services)
    huge = IncomingAttachment("f.zip", MAX_ZIP_BYTES + 1, zip_of({}).read)
    with pytest.raises(FeedbackZipTooLargeError):
        await import_(services, GOOD, huge)


async def test_a_damaged_zip_is_refused(services: Services, db: Database, files: FileStore) -> None:
    await course(services)
    async with unchanged(db, files):
        with pytest.raises(FeedbackZipBadError):
            await import_(services, GOOD, IncomingAttachment.of("f.zip", b"PK\x03\x04 not a zip"))


async def test_a_student_cannot_import(services: Services, db: Database, files: FileStore) -> None:
    await course(services)
    async with unchanged(db, files):
        with pytest.raises(StaffOnlyError):
            await services.feedback.import_draft(
                GUILD, student(1), "Lab 1", csv(GOOD), file_limit=LIMIT
            )


# --- release and delivery ------------------------------------------------------------------
async def test_release_dms_every_member_once(
    services: Services, notifier: RecordingNotifier
) -> None:
    await course(services)
    await import_(services, GOOD)
    result = await services.feedback.release(GUILD, STAFF, "Lab 1")
    assert (result.groups, result.deliveries) == (2, 3)
    assert await services.feedback_delivery.deliver_pending() == 3
    assert await services.feedback_delivery.deliver_pending() == 0
    got = sorted((dm.user_id, dm.feedback.grade) for dm in notifier.feedback)
    assert got == [(101, "B"), (102, "B"), (103, "C")]


async def test_a_member_with_closed_dms_shows_in_the_overview(
    services: Services, notifier: RecordingNotifier
) -> None:
    await course(services)
    notifier.closed_dms.add(student(2).user_id)
    await import_(services, GOOD)
    await services.feedback.release(GUILD, STAFF, "Lab 1")
    assert await services.feedback_delivery.deliver_pending() == 2
    overview = await services.assignments.overview(GUILD, STAFF, "Lab 1")
    unreached = overview.undelivered[student(2).user_id]
    assert [(u.kind, u.reason) for u in unreached] == [("feedback", "closed:50007")]
    assert await services.feedback_delivery.deliver_pending() == 0


async def test_a_passing_dm_fault_is_tried_again_later(
    services: Services, notifier: RecordingNotifier, clock: FakeClock
) -> None:
    await course(services)
    notifier.failures[student(3).user_id] = [Delivery(DmFailure.TRANSIENT, 40003)]
    await import_(services, "2222,C,x\n")
    await services.feedback.release(GUILD, STAFF, "Lab 1")
    assert await services.feedback_delivery.deliver_pending() == 0
    clock.advance(60)
    assert await services.feedback_delivery.deliver_pending() == 1


async def test_a_delivery_claimed_by_another_process_is_not_sent(
    services: Services, notifier: RecordingNotifier
) -> None:
    await course(services)
    await import_(services, "2222,C,x\n")
    await services.feedback.release(GUILD, STAFF, "Lab 1")
    async with services.db.transaction() as conn:
        rows = await fetch_all(conn, "SELECT id FROM feedback_deliveries")
        assert await feedback_repo.claim(conn, rows[0]["id"], "other", 120.0)
    assert await services.feedback_delivery.deliver_pending() == 0
    assert notifier.feedback == []


async def test_release_without_a_draft_is_refused(services: Services) -> None:
    await course(services)
    with pytest.raises(FeedbackNothingToReleaseError):
        await services.feedback.release(GUILD, STAFF, "Lab 1")


async def test_a_second_release_is_refused(services: Services) -> None:
    await course(services)
    await import_(services, GOOD)
    await services.feedback.release(GUILD, STAFF, "Lab 1")
    with pytest.raises(FeedbackAlreadyReleasedError):
        await services.feedback.release(GUILD, STAFF, "Lab 1")


async def test_an_import_after_the_release_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await course(services)
    await import_(services, GOOD)
    await services.feedback.release(GUILD, STAFF, "Lab 1")
    async with unchanged(db, files):
        with pytest.raises(FeedbackAlreadyReleasedError):
            await import_(services, "1111,A,changed\n")


async def test_a_student_cannot_release(services: Services) -> None:
    await course(services)
    await import_(services, GOOD)
    with pytest.raises(StaffOnlyError):
        await services.feedback.release(GUILD, student(1), "Lab 1")


# --- the students' view --------------------------------------------------------------------
async def test_a_member_sees_their_groups_released_feedback(services: Services) -> None:
    await course(services)
    await import_(services, GOOD, zip_of({"1111/notes.pdf": b"%PDF notes"}))
    await services.feedback.release(GUILD, STAFF, "Lab 1")
    _, feedback = await services.feedback.show(GUILD, student(2), "Lab 1")
    assert (feedback.pin, feedback.grade, feedback.comment) == ("1111", "B", "Solid work")
    async with services.feedback.local_copy(feedback.files[0]) as path:
        assert path.read_bytes() == b"%PDF notes"
    _, other = await services.feedback.show(GUILD, student(3), "Lab 1")
    assert other.pin == "2222"


async def test_feedback_before_the_release_is_refused(services: Services) -> None:
    await course(services)
    await import_(services, GOOD)
    with pytest.raises(FeedbackNotReleasedError):
        await services.feedback.show(GUILD, student(1), "Lab 1")


async def test_feedback_without_a_group_is_refused(services: Services) -> None:
    await course(services)
    await import_(services, GOOD)
    await services.feedback.release(GUILD, STAFF, "Lab 1")
    with pytest.raises(FeedbackNoGroupError):
        await services.feedback.show(GUILD, student(4), "Lab 1")


async def test_feedback_for_a_group_without_any_is_refused(services: Services) -> None:
    await course(services)
    await import_(services, "1111,B,ok\n")
    await services.feedback.release(GUILD, STAFF, "Lab 1")
    with pytest.raises(FeedbackNoneForGroupError):
        await services.feedback.show(GUILD, student(3), "Lab 1")


async def test_a_zip_with_a_damaged_entry_stores_nothing(
    services: Services, db: Database, files: FileStore
) -> None:
    await course(services)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as bundle:
        bundle.writestr("1111/a.txt", b"first " * 100)
        bundle.writestr("2222/b.txt", b"second " * 100)
    # The second file's bytes no longer match its CRC: found only once the first is unpacked.
    damaged = buffer.getvalue().replace(b"second second", b"sXcond second", 1)
    async with unchanged(db, files):
        with pytest.raises(FeedbackZipBadError):
            await import_(services, GOOD, IncomingAttachment.of("f.zip", damaged))
