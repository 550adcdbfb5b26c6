"""Uploads, hand-ins, the edit lease, status and download."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.domain.errors import (
    AlreadySubmittedError,
    DeadlinePassedError,
    DownloadFailedError,
    EmptyFileError,
    FileTooLargeError,
    FileTypeError,
    LeaseHeldError,
    NoLeaseError,
    NotCandidateError,
    NothingToDownloadError,
    NothingToHandInError,
    NotInGroupError,
    NotOpenYetError,
    StoredFileUnreadableError,
)
from bot.services.registry import Services
from bot.services.submissions import IncomingFile
from storage.db import Database
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import (
    GUILD,
    RecordingNotifier,
    incoming,
    later,
    make_assignment,
    sha,
    student,
)
from tests.filestore import intact
from tests.snapshot import snapshot, unchanged
from tests.waiting import DEFAULT_TIMEOUT

MIB = 1024 * 1024
ALICE, BOB = student(1), student(2)


async def pair(services: Services, **options: object) -> None:
    """Lab 1 with Alice and Bob in group 1234."""
    await make_assignment(services, **options)  # type: ignore[arg-type]
    now = services.clock.now()
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=now)
    await services.groups.join(GUILD, BOB, "Lab 1", "1234", sent_at=now)


def lying(data: bytes, declared: int, filename: str = "report.pdf") -> IncomingFile:
    return incoming(data, filename, declared=declared)


# --- accepted uploads ----------------------------------------------------------------------
async def test_upload_records_the_file_for_the_whole_group(
    services: Services, files: FileStore, clock: FakeClock
) -> None:
    await pair(services)
    clock.advance(10)
    sent = later(clock, -5)  # sent_at is when the student pressed enter, not when bytes landed
    result = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"%PDF report", "Report.pdf"), sent_at=sent
    )
    upload = result.upload
    assert (upload.filename, upload.size, upload.sha256) == ("Report.pdf", 11, sha(b"%PDF report"))
    assert upload.content_type == "application/pdf"
    assert upload.sent_at == sent and upload.stored_at == clock.now()
    assert not upload.late and result.correction is None
    assert intact(files, upload.sha256)
    status = await services.submissions.status(GUILD, BOB, "Lab 1")
    assert [u.id for u in status.uploads] == [upload.id]


async def test_upload_notice_goes_to_the_other_members(
    services: Services, notifier: RecordingNotifier
) -> None:
    await pair(services)
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"x"), sent_at=services.clock.now()
    )
    [notice] = notifier.notices
    assert notice.recipients == (BOB.user_id,)
    assert notice.uploader.user_id == ALICE.user_id


async def test_upload_notice_failure_does_not_lose_the_upload(
    services: Services, notifier: RecordingNotifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    await pair(services)

    async def broken(notice: object) -> None:
        raise RuntimeError("discord down")

    monkeypatch.setattr(notifier, "upload_notice", broken)
    result = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"x"), sent_at=services.clock.now()
    )
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert [u.id for u in status.uploads] == [result.upload.id]


async def test_upload_of_allowed_type_matches_case_insensitively(services: Services) -> None:
    await pair(services, file_types=".PDF, zip")
    result = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"x", "REPORT.Pdf"), sent_at=services.clock.now()
    )
    assert result.upload.filename == "REPORT.Pdf"


async def test_upload_exactly_at_the_size_limit_is_accepted(services: Services) -> None:
    await pair(services, max_file_mb=0.5)
    data = b"x" * (MIB // 2)
    result = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(data), sent_at=services.clock.now()
    )
    assert result.upload.size == MIB // 2


async def test_same_interaction_delivered_twice_is_recorded_once(services: Services) -> None:
    await pair(services)
    now = services.clock.now()
    first = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"x"), sent_at=now, interaction_id=555
    )
    again = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"x"), sent_at=now, interaction_id=555
    )
    assert again.duplicate and again.upload.id == first.upload.id
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert len(status.uploads) == 1


# --- refused uploads -----------------------------------------------------------------------
async def test_upload_with_no_group_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(NotInGroupError):
            await services.submissions.upload(
                GUILD, student(3), "Lab 1", incoming(b"x"), sent_at=services.clock.now()
            )


async def test_upload_before_opening_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services, opens="+1h", closes="+2h")
    async with unchanged(db, files):
        with pytest.raises(NotOpenYetError):
            await services.submissions.upload(
                GUILD, ALICE, "Lab 1", incoming(b"x"), sent_at=services.clock.now()
            )


async def test_upload_after_closing_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await pair(services, closes="+1h")
    clock.advance(3600)
    async with unchanged(db, files):
        with pytest.raises(DeadlinePassedError):
            await services.submissions.upload(
                GUILD, ALICE, "Lab 1", incoming(b"x"), sent_at=clock.now()
            )


async def test_upload_after_the_late_window_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await pair(services, closes="+1h", late_until="+2h")
    clock.advance(7200)
    async with unchanged(db, files):
        with pytest.raises(DeadlinePassedError):
            await services.submissions.upload(
                GUILD, ALICE, "Lab 1", incoming(b"x"), sent_at=clock.now()
            )


async def test_upload_after_a_submit_once_handin_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services, submit_once=True)
    now = services.clock.now()
    await services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"v1"), sent_at=now)
    await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=now)
    async with unchanged(db, files):
        with pytest.raises(AlreadySubmittedError):
            await services.submissions.upload(GUILD, BOB, "Lab 1", incoming(b"v2"), sent_at=now)


async def test_upload_declared_over_the_size_limit_is_refused_before_reading(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services, max_file_mb=1)
    read = False

    async def never() -> AsyncIterator[bytes]:
        nonlocal read
        read = True
        yield b"x"

    big = IncomingFile("big.pdf", MIB + 1, "application/pdf", never)
    async with unchanged(db, files):
        with pytest.raises(FileTooLargeError):
            await services.submissions.upload(
                GUILD, ALICE, "Lab 1", big, sent_at=services.clock.now()
            )
    assert not read


async def test_upload_over_the_discord_limit_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(FileTooLargeError):
            await services.submissions.upload(
                GUILD,
                ALICE,
                "Lab 1",
                incoming(b"x" * 2000),
                sent_at=services.clock.now(),
                upload_limit_bytes=1000,
            )


async def test_upload_whose_stream_lies_about_its_size_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    # Longer than declared: not the attachment the student sent, so "not stored, try again".
    await pair(services, max_file_mb=1)
    async with unchanged(db, files):
        with pytest.raises(DownloadFailedError):
            await services.submissions.upload(
                GUILD, ALICE, "Lab 1", lying(b"x" * (MIB + 10), 100), sent_at=services.clock.now()
            )


async def test_upload_of_a_refused_type_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services, file_types="pdf")
    async with unchanged(db, files):
        for name in ("notes.docx", "report.pdf.exe", "pdf"):
            with pytest.raises(FileTypeError):
                await services.submissions.upload(
                    GUILD, ALICE, "Lab 1", incoming(b"x", name), sent_at=services.clock.now()
                )


async def test_upload_of_zero_bytes_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(EmptyFileError):
            await services.submissions.upload(
                GUILD, ALICE, "Lab 1", incoming(b""), sent_at=services.clock.now()
            )


async def test_upload_declared_nonempty_but_empty_on_arrival_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    # Fewer bytes than declared (none at all): a download that went wrong, so "try again".
    await pair(services)
    async with unchanged(db, files):
        with pytest.raises(DownloadFailedError):
            await services.submissions.upload(
                GUILD, ALICE, "Lab 1", lying(b"", 10), sent_at=services.clock.now()
            )


async def test_upload_whose_download_fails_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services)

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise OSError("connection reset")

    async with unchanged(db, files):
        with pytest.raises(DownloadFailedError):
            await services.submissions.upload(
                GUILD,
                ALICE,
                "Lab 1",
                IncomingFile("a.pdf", 100, None, broken),
                sent_at=services.clock.now(),
            )


async def test_upload_to_role_assignment_without_the_role_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services, role_id=77)
    async with unchanged(db, files):
        with pytest.raises(NotCandidateError):
            await services.submissions.upload(
                GUILD, student(1), "Lab 1", incoming(b"x"), sent_at=services.clock.now()
            )


# --- hand-in -------------------------------------------------------------------------------
async def test_handin_with_nothing_uploaded_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services, auto_submit=False)
    async with unchanged(db, files):
        with pytest.raises(NothingToHandInError):
            await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=services.clock.now())


async def test_handin_takes_the_latest_upload_sent_before_it(
    services: Services, clock: FakeClock
) -> None:
    await pair(services, auto_submit=False)
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"a"), sent_at=later(clock, 1)
    )
    second = await services.submissions.upload(
        GUILD, BOB, "Lab 1", incoming(b"b"), sent_at=later(clock, 2)
    )
    result = await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=later(clock, 3))
    assert result.upload.id == second.upload.id
    assert result.handin.user_id == ALICE.user_id and not result.handin.late


async def test_handin_after_closing_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await pair(services, closes="+1h", auto_submit=False)
    await services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"a"), sent_at=clock.now())
    clock.advance(3600)
    async with unchanged(db, files):
        with pytest.raises(DeadlinePassedError):
            await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=clock.now())


async def test_second_handin_with_submit_once_is_refused(
    services: Services, db: Database, files: FileStore
) -> None:
    await pair(services, submit_once=True)
    now = services.clock.now()
    await services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"a"), sent_at=now)
    await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=now)
    async with unchanged(db, files):
        with pytest.raises(AlreadySubmittedError):
            await services.submissions.handin(GUILD, BOB, "Lab 1", sent_at=now)


async def test_status_warns_when_the_latest_upload_is_not_handed_in(
    services: Services, clock: FakeClock
) -> None:
    await pair(services, auto_submit=False)
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"a"), sent_at=later(clock, 1)
    )
    await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=later(clock, 2))
    assert not (await services.submissions.status(GUILD, BOB, "Lab 1")).latest_not_handed_in
    await services.submissions.upload(GUILD, BOB, "Lab 1", incoming(b"b"), sent_at=later(clock, 3))
    assert (await services.submissions.status(GUILD, BOB, "Lab 1")).latest_not_handed_in


# --- single editor -------------------------------------------------------------------------
async def test_single_editor_lease_refuses_other_members(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await pair(services, single_editor=True)
    sent = clock.now()
    await services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"a"), sent_at=sent)
    clock.advance(60)
    async with unchanged(db, files):
        with pytest.raises(LeaseHeldError) as caught:
            await services.submissions.upload(
                GUILD, BOB, "Lab 1", incoming(b"b"), sent_at=clock.now()
            )
        with pytest.raises(LeaseHeldError):
            await services.submissions.handin(GUILD, BOB, "Lab 1", sent_at=clock.now())
    assert caught.value.params == {"holder": ALICE.user_id, "until": sent + timedelta(minutes=10)}


async def test_single_editor_holder_keeps_working(services: Services, clock: FakeClock) -> None:
    await pair(services, single_editor=True)
    await services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"a"), sent_at=clock.now())
    clock.advance(60)
    second = await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"b"), sent_at=clock.now()
    )
    handed = await services.submissions.handin(GUILD, ALICE, "Lab 1", sent_at=clock.now())
    assert second.upload.user_id == ALICE.user_id
    assert handed.upload.id == second.upload.id


async def test_single_editor_lease_ends_ten_minutes_after_the_last_action(
    services: Services, clock: FakeClock
) -> None:
    await pair(services, single_editor=True)
    await services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"a"), sent_at=clock.now())
    clock.advance(300)
    await services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"b"), sent_at=clock.now())
    clock.advance(599)
    with pytest.raises(LeaseHeldError):
        await services.submissions.upload(GUILD, BOB, "Lab 1", incoming(b"c"), sent_at=clock.now())
    clock.advance(1)
    result = await services.submissions.upload(
        GUILD, BOB, "Lab 1", incoming(b"c"), sent_at=clock.now()
    )
    assert result.view.group.id == result.upload.group_id


async def test_release_gives_the_lease_up_early(services: Services, clock: FakeClock) -> None:
    await pair(services, single_editor=True)
    await services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"a"), sent_at=clock.now())
    await services.submissions.release(GUILD, ALICE, "Lab 1")
    await services.submissions.upload(GUILD, BOB, "Lab 1", incoming(b"b"), sent_at=clock.now())
    with pytest.raises(LeaseHeldError):
        await services.submissions.upload(
            GUILD, ALICE, "Lab 1", incoming(b"c"), sent_at=clock.now()
        )


async def test_release_without_holding_the_lease_is_refused(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await pair(services, single_editor=True)
    await services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"a"), sent_at=clock.now())
    async with unchanged(db, files):
        with pytest.raises(NoLeaseError):
            await services.submissions.release(GUILD, BOB, "Lab 1")


async def test_leaving_member_gives_up_the_lease(services: Services, clock: FakeClock) -> None:
    await pair(services, single_editor=True)
    await services.submissions.upload(GUILD, ALICE, "Lab 1", incoming(b"a"), sent_at=clock.now())
    await services.groups.leave(GUILD, ALICE, "Lab 1", sent_at=clock.now())
    result = await services.submissions.upload(
        GUILD, BOB, "Lab 1", incoming(b"b"), sent_at=clock.now()
    )
    assert result.upload.user_id == BOB.user_id
    assert [m.user_id for m in result.view.members] == [BOB.user_id]


# --- download ------------------------------------------------------------------------------
async def test_download_before_any_upload_is_refused(services: Services) -> None:
    await pair(services)
    with pytest.raises(NothingToDownloadError):
        await services.submissions.download(GUILD, ALICE, "Lab 1")


async def test_download_gives_the_final_file_after_closing(
    services: Services, clock: FakeClock
) -> None:
    await pair(services, closes="+1h")
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"v1"), sent_at=later(clock, 1)
    )
    await services.submissions.upload(GUILD, BOB, "Lab 1", incoming(b"v2"), sent_at=later(clock, 2))
    clock.advance(3600)
    await services.finalizer.finalize_due()
    upload, final = await services.submissions.download(GUILD, ALICE, "Lab 1")
    assert final and upload.sha256 == sha(b"v2")
    async with services.submissions.local_copy(upload) as path:
        assert path.read_bytes() == b"v2"


async def test_download_of_a_damaged_stored_file_is_refused(
    services: Services, clock: FakeClock, files: FileStore
) -> None:
    await pair(services, closes="+1h")
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"v1"), sent_at=later(clock, 1)
    )
    upload, _ = await services.submissions.download(GUILD, ALICE, "Lab 1")
    files.path_for(upload.sha256).write_bytes(b"bit rot")
    with pytest.raises(StoredFileUnreadableError):
        async with services.submissions.local_copy(upload):
            pass
    files.path_for(upload.sha256).unlink()
    with pytest.raises(StoredFileUnreadableError):
        async with services.submissions.local_copy(upload):
            pass


async def test_upload_refused_after_its_bytes_arrived_leaves_no_stored_file(
    services: Services, db: Database, files: FileStore
) -> None:
    await make_assignment(services)
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=services.clock.now())
    release, arriving = asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"%PDF first half "
        arriving.set()
        await release.wait()
        yield b"second half"

    before = await snapshot(db, files)
    attempt = asyncio.create_task(
        services.submissions.upload(
            GUILD,
            ALICE,
            "Lab 1",
            IncomingFile("late.pdf", 27, "application/pdf", slow),
            sent_at=services.clock.now(),
        )
    )
    await asyncio.wait_for(arriving.wait(), DEFAULT_TIMEOUT)
    # While the bytes are still arriving, Alice leaves (her empty group is deleted).
    await services.groups.leave(GUILD, ALICE, "Lab 1", sent_at=services.clock.now())
    release.set()
    with pytest.raises(NotInGroupError):
        await attempt
    after = await snapshot(db, files)
    assert (after["files"], after["tmp"], after["uploads"]) == ([], [], before["uploads"])
    assert not files.exists(sha(b"%PDF first half second half"))
