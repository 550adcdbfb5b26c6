"""Upload quotas: per group (uploads, MiB stored) and per member (uploads a minute); each refusal
leaves the hand-in and the stored files exactly as they were."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.domain.errors import (
    MaxStorageError,
    MaxUploadsError,
    StorageQuotaError,
    UploadQuotaError,
    UploadRateError,
)
from bot.domain.models import Actor
from bot.domain.quotas import RATE_LIMIT, RATE_WINDOW
from bot.i18n import t
from bot.services.assignments import AssignmentOptions
from bot.services.registry import Services
from bot.services.submissions import IncomingFile, UploadResult
from storage.db import Database
from storage.files import FileStore
from tests.clock import FakeClock
from tests.conftest import GUILD, LIMIT, STAFF, incoming, make_assignment, student
from tests.snapshot import unchanged

ALICE, BOB, CARL = student(1), student(2), student(3)
KIB = 1024


def files_of(files: FileStore) -> list[str]:
    return [p.parent.name + p.name for p in files.root.glob("??/*") if p.is_file()]


async def course(services: Services, **options: object) -> None:
    """Lab 1 with Alice and Bob in group 1234 and Carl alone in 5678."""
    await make_assignment(services, **options)  # type: ignore[arg-type]
    now = services.clock.now()
    await services.groups.create(GUILD, ALICE, "Lab 1", "1234", sent_at=now)
    await services.groups.join(GUILD, BOB, "Lab 1", "1234", sent_at=now)
    await services.groups.create(GUILD, CARL, "Lab 1", "5678", sent_at=now)


async def upload(
    services: Services, who: Actor, data: bytes, *, sent_at: datetime | None = None
) -> UploadResult:
    when = services.clock.now() if sent_at is None else sent_at
    return await services.submissions.upload(GUILD, who, "Lab 1", incoming(data), sent_at=when)


# --- uploads per group ---------------------------------------------------------------------
async def test_upload_past_the_groups_upload_quota_is_refused_and_keeps_nothing(
    services: Services, db: Database, files: FileStore
) -> None:
    await course(services, max_uploads=2)
    await upload(services, ALICE, b"one")
    await upload(services, BOB, b"two")
    async with unchanged(db, files):
        with pytest.raises(UploadQuotaError) as refused:
            await upload(services, ALICE, b"three")
    assert refused.value.params == {"count": 2}


async def test_the_upload_quota_is_per_group(services: Services) -> None:
    await course(services, max_uploads=1)
    await upload(services, ALICE, b"one")
    await upload(services, CARL, b"carl's")  # another group: its own quota
    with pytest.raises(UploadQuotaError):
        await upload(services, BOB, b"two")


async def test_concurrent_uploads_never_pass_the_upload_quota(
    services: Services, db: Database, files: FileStore
) -> None:
    await course(services, max_uploads=3)
    now = services.clock.now()
    results = await asyncio.gather(
        *(
            upload(services, (ALICE, BOB)[n % 2], f"file {n}".encode(), sent_at=now)
            for n in range(8)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, UploadQuotaError) for r in results) == 5
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert len(status.uploads) == 3
    assert list((files.root / "tmp").iterdir()) == []


async def test_concurrent_uploads_by_one_member_never_pass_the_rate(
    services: Services, db: Database, files: FileStore
) -> None:
    # One batch reads every unit's quotas at once; what a unit stores counts for the next.
    await course(services)
    now = services.clock.now()
    results = await asyncio.gather(
        *(
            upload(services, ALICE, f"file {n}".encode(), sent_at=now)
            for n in range(RATE_LIMIT + 3)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, UploadRateError) for r in results) == 3
    assert sum(isinstance(r, UploadResult) for r in results) == RATE_LIMIT
    status = await services.submissions.status(GUILD, ALICE, "Lab 1")
    assert len(status.uploads) == RATE_LIMIT


# --- MiB stored per group ------------------------------------------------------------------
async def test_upload_declared_past_the_storage_quota_is_refused_before_reading(
    services: Services, db: Database, files: FileStore
) -> None:
    await course(services, max_storage_mb=0.01)  # 10,485 bytes
    await upload(services, ALICE, b"x" * 6000)
    read = False

    async def never() -> AsyncIterator[bytes]:
        nonlocal read
        read = True
        yield b"x"

    big = IncomingFile("big.pdf", 6000, "application/pdf", never)
    async with unchanged(db, files):
        with pytest.raises(StorageQuotaError) as refused:
            await services.submissions.upload(
                GUILD, BOB, "Lab 1", big, sent_at=services.clock.now()
            )
    assert not read
    assert refused.value.params == {"size_mb": 0.01, "used_mb": 0.01, "limit_mb": 0.01}


async def test_uploads_that_pass_the_early_check_together_cannot_pass_the_quota_together(
    services: Services, db: Database, files: FileStore
) -> None:
    await course(services, max_storage_mb=0.01)  # 10,485 bytes: room for one of the two
    arrived = asyncio.Event()
    reading: list[bytes] = []
    both_reading = asyncio.Event()

    def held(data: bytes) -> IncomingFile:
        async def read() -> AsyncIterator[bytes]:
            reading.append(data)
            if len(reading) == 2:
                both_reading.set()
            await arrived.wait()  # both passed the early check before either lands
            yield data

        return IncomingFile("report.pdf", len(data), "application/pdf", read)

    now = services.clock.now()
    attempts = [
        asyncio.create_task(
            services.submissions.upload(GUILD, who, "Lab 1", held(data), sent_at=now)
        )
        for who, data in ((ALICE, b"x" * 6000), (BOB, b"y" * 6000))
    ]
    await asyncio.wait_for(both_reading.wait(), 10)
    arrived.set()
    results = await asyncio.gather(*attempts, return_exceptions=True)
    # The bytes that arrived decide, inside the transaction that records them.
    assert sorted(type(r).__name__ for r in results) == ["StorageQuotaError", "UploadResult"]
    [stored] = [r for r in results if isinstance(r, UploadResult)]
    assert set(files_of(files)) == {stored.upload.sha256}


async def test_an_identical_file_uploaded_again_counts_against_the_storage_quota(
    services: Services,
) -> None:
    await course(services, max_storage_mb=0.01)
    await upload(services, ALICE, b"x" * 6000)
    with pytest.raises(StorageQuotaError):
        await upload(services, BOB, b"x" * 6000)


async def test_an_upload_that_fills_the_storage_quota_exactly_is_accepted(
    services: Services,
) -> None:
    await course(services, max_storage_mb=1 / 1024)  # 1 KiB
    await upload(services, ALICE, b"x" * 512)
    await upload(services, BOB, b"y" * 512)
    with pytest.raises(StorageQuotaError):
        await upload(services, BOB, b"z")


# --- uploads a minute per member -----------------------------------------------------------
async def test_a_members_upload_past_the_rate_is_refused_until_the_window_moves(
    services: Services, db: Database, files: FileStore, clock: FakeClock
) -> None:
    await course(services)
    first = clock.now()
    for n in range(RATE_LIMIT):
        await upload(services, ALICE, f"v{n}".encode(), sent_at=first + timedelta(seconds=n))
    sent = first + timedelta(seconds=40)
    async with unchanged(db, files):
        with pytest.raises(UploadRateError) as refused:
            await upload(services, ALICE, b"one more", sent_at=sent)
    # Once the first of them is a minute old, one more fits.
    assert refused.value.params == {"count": RATE_LIMIT, "until": first + RATE_WINDOW}
    await upload(services, BOB, b"bob is not limited by alice", sent_at=sent)
    await upload(services, ALICE, b"now it fits", sent_at=first + RATE_WINDOW)


async def test_the_rate_counts_when_uploads_were_sent_not_when_they_arrived(
    services: Services, clock: FakeClock
) -> None:
    await course(services)
    start = clock.now()
    for n in range(RATE_LIMIT):
        await upload(services, ALICE, f"v{n}".encode(), sent_at=start)
    # The bytes arrive late (lag): what counts is the interaction's own time.
    clock.advance(300)
    with pytest.raises(UploadRateError):
        await upload(services, ALICE, b"sent in the same minute", sent_at=start)


async def test_the_rate_refusal_says_when_to_try_again_in_both_languages(
    services: Services, clock: FakeClock
) -> None:
    await course(services)
    for n in range(RATE_LIMIT):
        await upload(services, ALICE, f"v{n}".encode())
    with pytest.raises(UploadRateError) as refused:
        await upload(services, ALICE, b"again")
    unix = int((clock.now() + RATE_WINDOW).timestamp())
    for locale in ("en", "no"):
        text = t(locale, refused.value.key, **refused.value.params)
        assert f"<t:{unix}:F>" in text and str(RATE_LIMIT) in text


# --- settings and the overview -------------------------------------------------------------
async def test_quotas_default_to_200_uploads_and_500_mib(services: Services) -> None:
    created = await make_assignment(services)
    assert (created.max_uploads, created.max_storage_mb) == (200, 500.0)


async def test_edit_changes_the_quotas(services: Services) -> None:
    await make_assignment(services)
    edited = await services.assignments.edit(
        GUILD,
        STAFF,
        "Lab 1",
        AssignmentOptions(max_uploads=50, max_storage_mb=2.5),
        sent_at=services.clock.now(),
        upload_limit_bytes=LIMIT,
    )
    assert (edited.max_uploads, edited.max_storage_mb) == (50, 2.5)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"max_uploads": 0}, MaxUploadsError),
        ({"max_storage_mb": 0.0}, MaxStorageError),
        ({"max_storage_mb": -1.0}, MaxStorageError),
    ],
)
async def test_a_quota_that_cannot_hold_an_upload_is_refused(
    services: Services, options: dict[str, Any], error: type[Exception]
) -> None:
    with pytest.raises(error):
        await make_assignment(services, **options)


async def test_overview_marks_a_group_near_its_quota(services: Services) -> None:
    await course(services, max_uploads=5)
    for n in range(4):  # 80 %
        await upload(services, ALICE, f"v{n}".encode())
    await upload(services, CARL, b"one")
    overview = await services.assignments.overview(GUILD, STAFF, "Lab 1")
    near = {g.group.pin: (g.near_quota, g.usage.uploads) for g in overview.groups}
    assert near == {"1234": (True, 4), "5678": (False, 1)}


async def test_overview_marks_a_group_near_its_storage_quota(services: Services) -> None:
    await course(services, max_storage_mb=10 / 1024)  # 10 KiB
    await upload(services, ALICE, b"x" * 8 * KIB)
    overview = await services.assignments.overview(GUILD, STAFF, "Lab 1")
    [group, alone] = overview.groups
    assert group.near_quota and group.usage.bytes == 8 * KIB and not alone.near_quota
