"""Uploads in flight at the deadline: sent before it, they count whenever their bytes arrive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.domain.errors import DownloadFailedError
from bot.domain.models import Assignment
from bot.services.registry import Services, build_services
from bot.services.submissions import IncomingFile, UploadResult
from storage.db import Database
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import (
    GUILD,
    STAFF,
    RecordingNotifier,
    incoming,
    later,
    make_assignment,
    sha,
    student,
)
from tests.waiting import DEFAULT_TIMEOUT, Calls

ALICE, BOB = student(1), student(2)
SLOW = b"the real final version"


class Gate:
    """A byte source the test releases: the upload's bytes arrive when the test says so."""

    def __init__(self, data: bytes = SLOW, fail: bool = False) -> None:
        self.data = data
        self.fail = fail
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    def file(self) -> IncomingFile:
        async def read() -> AsyncIterator[bytes]:
            self.started.set()
            await self.release.wait()
            if self.fail:
                raise OSError("connection reset")
            yield self.data

        return IncomingFile("final.pdf", len(self.data), "application/pdf", read)


async def _two_member_group(services: Services, clock: FakeClock) -> Assignment:
    assignment = await make_assignment(services, closes="+1h")
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=clock.now())
    await services.groups.join(GUILD, BOB, "Lab 1", "1234", sent_at=clock.now())
    await services.submissions.upload(
        GUILD, ALICE, "Lab 1", incoming(b"draft"), sent_at=later(clock, 60)
    )
    return assignment


async def _start_slow_upload(
    services: Services, assignment: Assignment, gate: Gate
) -> asyncio.Task[UploadResult]:
    """Bob presses enter one second before the deadline; the bytes wait for the gate."""
    sent_at = assignment.closes_at - timedelta(seconds=1)
    task = asyncio.create_task(
        services.submissions.upload(GUILD, BOB, "Lab 1", gate.file(), sent_at=sent_at)
    )
    await asyncio.wait_for(gate.started.wait(), 1)
    return task


async def test_finalization_waits_for_upload_in_flight_so_first_receipt_is_right(
    services: Services, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    assignment = await _two_member_group(services, clock)
    gate = Gate()
    upload = await _start_slow_upload(services, assignment, gate)
    clock.advance(3600)

    waits = Calls(services.inflight, "wait_for")
    finalizing = asyncio.create_task(services.finalizer.finalize_due())
    # Finalization is waiting for the upload, which cannot end before the gate opens.
    await asyncio.wait_for(waits.entered.wait(), DEFAULT_TIMEOUT)
    assert not finalizing.done()
    gate.release.set()
    changes = await asyncio.wait_for(finalizing, 1)
    result = await upload

    assert result.correction is None
    assert len(changes) == 1 and changes[0].upload is not None
    assert changes[0].upload.sha256 == sha(SLOW)
    assert await services.receipts.deliver_pending() == 2
    assert [(r.upload.sha256, r.replaces) for r in notifier.receipts] == [(sha(SLOW), False)] * 2


async def test_upload_landing_after_the_wait_corrects_the_receipt(
    db: Database, files: FileStore, clock: FakeClock, notifier: RecordingNotifier
) -> None:
    services = build_services(db, files, clock, notifier, inflight_wait=0.05)
    assignment = await _two_member_group(services, clock)
    gate = Gate()
    upload = await _start_slow_upload(services, assignment, gate)
    clock.advance(3600)

    await asyncio.wait_for(services.finalizer.finalize_due(), 1)
    assert await services.receipts.deliver_pending() == 2
    gate.release.set()
    result = await asyncio.wait_for(upload, 1)

    assert result.correction is not None and result.correction.replaces
    assert await services.receipts.deliver_pending() == 2
    first, second = notifier.receipts[:2], notifier.receipts[2:]
    assert {(r.upload.sha256, r.replaces) for r in first} == {(sha(b"draft"), False)}
    assert {(r.upload.sha256, r.replaces) for r in second} == {(sha(SLOW), True)}


async def test_finalization_does_not_wait_for_a_group_that_is_not_due(
    services: Services, clock: FakeClock
) -> None:
    assignment = await _two_member_group(services, clock)
    await services.groups.create(GUILD, student(3), "Lab 1", "5678", sent_at=clock.now())
    await services.assignments.extend(GUILD, STAFF, "Lab 1", "1234", "+2h", sent_at=clock.now())
    gate = Gate()
    upload = await _start_slow_upload(services, assignment, gate)
    clock.advance(3600)

    # Group 1234 has an extension: only 5678 is due, and nothing of it is in flight.
    await asyncio.wait_for(services.finalizer.finalize_due(), 0.5)
    gate.release.set()
    assert (await upload).correction is None


async def test_failed_download_leaves_nothing_in_flight(
    services: Services, clock: FakeClock
) -> None:
    assignment = await _two_member_group(services, clock)
    gate = Gate(fail=True)
    upload = await _start_slow_upload(services, assignment, gate)
    assert services.inflight.busy()
    gate.release.set()
    with pytest.raises(DownloadFailedError):
        await upload
    assert not services.inflight.busy()
